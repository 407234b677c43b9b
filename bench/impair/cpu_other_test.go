//go:build !unix

package impair

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
