package rooms

import "fmt"

// defaultMaxRoomsPerMember is the value of Config.MaxRoomsPerMember when zero.
const defaultMaxRoomsPerMember = 256

// Config configures a Local adapter. The zero value of every field but Sink
// means its documented default; NewLocal validates it.
type Config struct {
	// MaxRoomsPerMember is how many rooms a member may be in besides its
	// own room. Zero means 256; negative is an error.
	MaxRoomsPerMember int

	// Sink delivers broadcasts. Required.
	Sink Sink
}

// withDefaults validates c and returns it with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Sink == nil {
		return c, fmt.Errorf("%w: Sink is nil", ErrInvalidConfig)
	}
	if f, ok := c.Sink.(SinkFunc); ok && f == nil {
		return c, fmt.Errorf("%w: Sink is a nil SinkFunc", ErrInvalidConfig)
	}
	if c.MaxRoomsPerMember < 0 {
		return c, fmt.Errorf("%w: MaxRoomsPerMember is %d, want >= 0", ErrInvalidConfig, c.MaxRoomsPerMember)
	}
	if c.MaxRoomsPerMember == 0 {
		c.MaxRoomsPerMember = defaultMaxRoomsPerMember
	}
	return c, nil
}
