package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// decodeTargets are request bodies FuzzDecode decodes into, chosen by the
// first argument modulo their number.
var decodeTargets = []func() any{
	func() any { return new(createSessionRequest) },
	func() any { return new(workspaceSpec) },
	func() any { return new(enrollRequest) },
}

// FuzzDecode: decodeBytes never panics; every refusal is an invalid
// *airlock.Error with a message; whatever it accepts re-marshals to JSON
// that it accepts again, to the same value.
func FuzzDecode(f *testing.F) {
	for i, b := range []string{
		`{"workspace":"web"}`,
		`{"name":"chrome","image":"airlock/chromium:1","env":{"LANG":"fr"},"memory":1073741824}`,
		`{"token":"ALJT-1-x","name":"n1","url":"https://10.0.0.5:2376","capacity":4,"isolation":["standard"],"csr":"x"}`,
		`{"workspace":"web","locale":"zh-Hant-TW","timezone":"Europe/Paris","scale":2}`,
		`{"name":"k","image":"x","mode":"kiosk","audio":"off","locale":"ja-JP","timezone":"Asia/Tokyo","max_scale":1.5,` +
			`"browser":{"url_blocklist":["*"],"url_allowlist":["a.example"],"downloads":{"allowed":true,"max_bytes":5},"policies":{"Aa":[{"b":1}]}}}`,
	} {
		f.Add(uint8(i), []byte(b))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		newV := decodeTargets[int(which)%len(decodeTargets)]
		v := newV()
		err := decodeBytes(body, v)
		if err != nil {
			var ae *airlock.Error
			if !errors.As(err, &ae) || ae != err {
				t.Fatalf("error %T %v is not an *airlock.Error", err, err)
			}
			if ae.Code != airlock.EINVALID || ae.Message == "" {
				t.Fatalf("error %+v, want code invalid with a message", ae)
			}
			if !utf8.ValidString(ae.Message) && utf8.Valid(body) {
				t.Fatalf("message %q is not UTF-8", ae.Message)
			}
			return
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted %q but cannot re-marshal %+v: %v", body, v, err)
		}
		v2 := newV()
		if err := decodeBytes(out, v2); err != nil {
			t.Fatalf("re-marshaled %s does not decode: %v", out, err)
		}
		out2, err := json.Marshal(v2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the value:\n%s\n%s", out, out2)
		}
	})
}
