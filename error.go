package reins

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status, in one table.
const (
	EINVALID      = "invalid"      // the request is malformed or not allowed in the job's state
	ENOTFOUND     = "not_found"    // no such job or resource
	ECONFLICT     = "conflict"     // the resource is not in a state that allows the request
	EGONE         = "gone"         // the resource existed but was removed (a revoked result)
	EUNSUPPORTED  = "unsupported"  // the request body's media type is not understood
	EMETHOD       = "method"       // the HTTP method is not allowed on the resource
	EUNAVAILABLE  = "unavailable"  // a dependency (the database) cannot be reached right now
	EINTERNAL     = "internal"     // a bug or an unexpected failure
	EFENCED       = "fenced"       // a run's epoch is stale: it lost its claim on the job
	EBUSY         = "busy"         // another live run holds the job's lease
	ETOOLARGE     = "too_large"    // the request's body is larger than allowed
	EUNAUTHORIZED = "unauthorized" // the request carries no valid API token
	EFORBIDDEN    = "forbidden"    // a browser sent the request from another site
	ETOOMANY      = "too_many"     // the tenant is over a quota; retry later
)

// Error is the one error type of Reins: a code for programs and a message for people.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("reins error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err if it is (or wraps) an *Error, and a generic
// message otherwise, so internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Shorten returns s cut to at most n runes, marked with "…" when cut, so that a message
// never echoes a huge input whole.
func Shorten(s string, n int) string {
	count := 0
	for i := range s {
		if count == n {
			return s[:i] + "…"
		}
		count++
	}
	return s
}
