package apiclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal of the api: its status and its {"code","message"}.
type Error struct {
	Method, Path string
	Status       int
	Code         string `json:"code"`
	Message      string `json:"message"`
}

// Error is the api's message, which says what was wrong; an answer
// without one (a proxy's, say) is described by its status.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
}

// Refused reports whether the api said no for good: a 4xx answer other
// than 429, which a retry of the same call cannot change.
func (e *Error) Refused() bool {
	return e.Status/100 == 4 && e.Status != http.StatusTooManyRequests
}

func refusal(method, path string, resp *http.Response, raw []byte) *Error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Code, e.Message = body.Code, body.Message
	}
	return e
}

// StatusOf is the status of the api's refusal in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsRefused reports whether err is a refusal the api will not change its
// mind about (see Error.Refused).
func IsRefused(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Refused()
}
