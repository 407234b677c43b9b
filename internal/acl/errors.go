package acl

import "fmt"

// PatternError is an invalid pattern.
type PatternError struct {
	Pattern string
	Reason  string
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("acl: pattern %q: %s", e.Pattern, e.Reason)
}
