package impair

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"everything", Options{
			Up:   Config{Loss: 1, Duplicate: 0.5, Reorder: 0.1, ReorderGap: 3, Delay: time.Second, Jitter: time.Millisecond, Rate: 1000, QueueLimit: 10},
			Down: Config{Loss: 0.2}, Seed: -7, IdleTimeout: time.Second, MaxFlows: 1, MaxDatagram: 1500,
		}, true},
		{"loss over 1", Options{Up: Config{Loss: 1.5}}, false},
		{"negative loss", Options{Down: Config{Loss: -0.1}}, false},
		{"NaN duplicate", Options{Up: Config{Duplicate: math.NaN()}}, false},
		{"reorder over 1", Options{Down: Config{Reorder: 2}}, false},
		{"negative gap", Options{Up: Config{ReorderGap: -1}}, false},
		{"negative delay", Options{Up: Config{Delay: -time.Millisecond}}, false},
		{"negative jitter", Options{Down: Config{Jitter: -1}}, false},
		{"huge delay", Options{Down: Config{Delay: 1000 * time.Hour}}, false},
		{"negative reorder timeout", Options{Up: Config{ReorderTimeout: -1}}, false},
		{"negative rate", Options{Up: Config{Rate: -1}}, false},
		{"negative queue", Options{Up: Config{QueueLimit: -1}}, false},
		{"negative idle", Options{IdleTimeout: -1}, false},
		{"negative flows", Options{MaxFlows: -1}, false},
		{"datagram too long", Options{MaxDatagram: 70000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.validate()
			if got := err == nil; got != tt.ok {
				t.Fatalf("validate: got error %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("got error %v, want one wrapping ErrConfig", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	o, err := Options{}.validate()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{o.Up, o.Down} {
		if c.ReorderGap != DefaultReorderGap || c.ReorderTimeout != DefaultReorderTimeout || c.QueueLimit != DefaultQueueLimit {
			t.Errorf("got %+v, want the Config defaults", c)
		}
		if !c.clean() {
			t.Errorf("zero Config: got clean %v, want true", c.clean())
		}
	}
	if o.IdleTimeout != DefaultIdleTimeout || o.MaxFlows != DefaultMaxFlows || o.MaxDatagram != DefaultMaxDatagram {
		t.Errorf("got %+v, want the Options defaults", o)
	}
}

func TestNewUDPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, listen, target string
		opts                 Options
		want                 error // nil: any error
	}{
		{"bad config", "127.0.0.1:0", "127.0.0.1:9", Options{Up: Config{Loss: 2}}, ErrConfig},
		{"bad listen", "127.0.0.1:notaport", "127.0.0.1:9", Options{}, nil},
		{"bad target", "127.0.0.1:0", "nowhere:port", Options{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px, err := NewUDP(tt.listen, tt.target, tt.opts)
			if err == nil {
				px.Close()
				t.Fatal("NewUDP: got nil error, want one")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
