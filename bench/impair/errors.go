package impair

import "errors"

var (
	// ErrConfig means an Options or Config field is out of range. It is
	// wrapped with the field's name and value.
	ErrConfig = errors.New("impair: invalid config")
	// ErrClosed is returned by methods of a closed proxy.
	ErrClosed = errors.New("impair: proxy closed")
	// ErrUnknownFlow is returned by Rebind for a client address the proxy
	// has no flow for (never seen, or forgotten after IdleTimeout). It is
	// wrapped with the address.
	ErrUnknownFlow = errors.New("impair: unknown flow")
)
