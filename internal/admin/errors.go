package admin

import "errors"

var (
	// ErrRemote is returned by New for an address that is not loopback
	// without Config.AllowRemote: the admin API can disconnect any client
	// and has no authentication of its own.
	ErrRemote = errors.New("admin: address is not loopback (allow it explicitly with -admin-allow-remote)")
	// ErrAddr is returned by New for an address that is not host:port.
	ErrAddr = errors.New("admin: invalid address")
)
