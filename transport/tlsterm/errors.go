package tlsterm

import "errors"

// ErrConfig reports a Config without an address, certificate or key, or
// with a negative timeout.
var ErrConfig = errors.New("tlsterm: invalid config")
