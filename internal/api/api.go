// Package api is the infra server's REST/JSON interface under /api/v1: sign
// in, users, API tokens, workspaces, sessions, nodes and the agent's
// registration. It is the only component that holds the store.
//
// Handlers return errors instead of writing them; one function maps the
// domain's error codes to HTTP statuses, and only an *airlock.Error's
// message reaches a client: every other error is logged and answered as
// "internal error".
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// maxBody bounds every API request body.
const maxBody = 1 << 20

// status is the one mapping of error codes to HTTP statuses.
func status(code string) int {
	switch code {
	case airlock.EINVALID:
		return http.StatusBadRequest
	case airlock.ENOTFOUND:
		return http.StatusNotFound
	case airlock.ECONFLICT:
		return http.StatusConflict
	case airlock.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case airlock.EFORBIDDEN:
		return http.StatusForbidden
	case airlock.ELIMIT:
		return http.StatusTooManyRequests
	case airlock.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody is what every error answer looks like.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// handlerFunc is a handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// serve adapts a handlerFunc, writing its error in the one format.
func (s *Server) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withClient(r)
		err := h(w, r)
		if err == nil {
			return
		}
		code := airlock.ErrorCode(err)
		if code == airlock.EINTERNAL {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
		}
		writeJSON(w, status(code), errorBody{Code: code, Message: airlock.ErrorMessage(err)})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: application/json, at most maxBody,
// no unknown fields, nothing after the object. Every refusal says what
// was wrong.
func decode(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeBytes(body, v)
}

// readBody reads a JSON request body, up to one byte past maxBody (which
// decodeBytes refuses).
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, airlock.Errorf(airlock.EINVALID, "Content-Type must be application/json, not %q", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, airlock.Errorf(airlock.EINVALID, "could not read the request body")
	}
	return body, nil
}

func decodeBytes(body []byte, v any) error {
	if len(body) > maxBody {
		return airlock.Errorf(airlock.EINVALID, "request body is larger than 1 MiB")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return airlock.Errorf(airlock.EINVALID, "request body: %s", jsonError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return airlock.Errorf(airlock.EINVALID, "request body has data after the JSON object")
	}
	return nil
}

func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "a JSON object is required"
		}
		want := jsonKind(te.Type.Kind())
		if want == "a whole number" && strings.HasPrefix(te.Value, "number") {
			return fmt.Sprintf("field %q must be a whole number in range, not %s", te.Field, strings.TrimPrefix(te.Value, "number "))
		}
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, want, article(te.Value))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "a JSON object is required"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return "a " + k.String()
}

// article puts "a" or "an" before a JSON kind name from the decoder.
func article(v string) string {
	if v != "" && strings.ContainsRune("aeiou", rune(v[0])) {
		return "an " + v
	}
	return "a " + v
}

// clock is the server's time source, replaceable in tests.
type clock func() time.Time

func (c clock) now() time.Time {
	if c == nil {
		return airlock.Now()
	}
	return c().UTC().Truncate(time.Microsecond)
}
