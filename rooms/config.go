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

	// MaxMembersPerRoom is how many members a room may hold; a Join that
	// would go beyond it fails with ErrRoomFull. Zero means no limit;
	// negative is an error. A member's own room is not limited (only its
	// member is in it, and Rebind's).
	MaxMembersPerRoom int

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
	if c.MaxMembersPerRoom < 0 {
		return c, fmt.Errorf("%w: MaxMembersPerRoom is %d, want >= 0", ErrInvalidConfig, c.MaxMembersPerRoom)
	}
	if c.MaxRoomsPerMember == 0 {
		c.MaxRoomsPerMember = defaultMaxRoomsPerMember
	}
	return c, nil
}
