package airlock

import (
	"errors"
	"fmt"
)

// Error codes: the whole vocabulary. The api maps each to one HTTP status
// in one place; anything that is not an *Error is internal, and its detail
// goes only to the log.
const (
	EINVALID      = "invalid"      // the request is malformed or a value is out of range
	ENOTFOUND     = "not_found"    // no such object, or not one the caller may see
	ECONFLICT     = "conflict"     // the object exists, or is not in a state that allows this
	EUNAUTHORIZED = "unauthorized" // no valid credential
	EFORBIDDEN    = "forbidden"    // a valid credential without the right
	ELIMIT        = "limit"        // a quota would be exceeded
	EUNAVAILABLE  = "unavailable"  // no node can take it now; retry later
	EINTERNAL     = "internal"     // a bug or an outage; see the log
)

// Error is an error whose Message is safe to show to the client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with a formatted client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, or a generic one.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
