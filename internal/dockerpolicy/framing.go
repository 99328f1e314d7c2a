package dockerpolicy

import (
	"mime"
	"net/http"
	"strings"
)

// checkFraming refuses what must never reach dockerd whatever the route:
// protocol upgrades (attach and exec hijack the connection), HTTP/2 and
// gRPC (BuildKit's session endpoints), and oversized bodies.
func checkFraming(req *Request) error {
	if req.ProtoMajor != 1 {
		return badRequest("protocol", "only HTTP/1.1 is served; HTTP/%d is refused", req.ProtoMajor)
	}
	if req.Header.Get("Upgrade") != "" || headerHasToken(req.Header, "Connection", "upgrade") {
		return refuse("upgrade", "connection upgrades are not allowed on any route")
	}
	ct := strings.ToLower(req.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/grpc") {
		return refuse("protocol", "gRPC requests are not allowed")
	}
	if len(req.Body) > MaxBodyBytes {
		return &Refusal{Status: http.StatusRequestEntityTooLarge, Rule: "body-size", Msg: "request body is larger than 1 MiB"}
	}
	return nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkMediaType demands application/json, with at most a UTF-8 charset.
func checkMediaType(ct string) error {
	if ct == "" {
		return &Refusal{Status: http.StatusUnsupportedMediaType, Rule: "media-type", Msg: "Content-Type application/json is required"}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return &Refusal{Status: http.StatusUnsupportedMediaType, Rule: "media-type", Msg: "malformed Content-Type header"}
	}
	if mt != "application/json" {
		return &Refusal{Status: http.StatusUnsupportedMediaType, Rule: "media-type", Msg: "Content-Type " + mt + " is not accepted; use application/json"}
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return &Refusal{Status: http.StatusUnsupportedMediaType, Rule: "media-type", Msg: "Content-Type parameter " + k + "=" + short(v) + " is not accepted"}
		}
	}
	return nil
}
