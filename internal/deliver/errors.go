package deliver

import "errors"

var errNoGroup = errors.New("deliver: no such group")
