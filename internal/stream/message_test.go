package stream

import (
	"strings"
	"testing"
)

func TestParseInput(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		want    inMsg
	}{
		{in: `{"t":"move","x":640,"y":360}`, want: inMsg{T: "move", X: 640, Y: 360}},
		{in: `{"t":"button","b":3,"down":true}`, want: inMsg{T: "button", B: 3, Down: true}},
		{in: `{"t":"wheel","dx":0,"dy":-120}`, want: inMsg{T: "wheel", DY: -120}},
		{in: `{"t":"key","down":true,"key":"é","code":"Digit2"}`, want: inMsg{T: "key", Down: true, Key: "é", Code: "Digit2"}},
		{in: `{"t":"clip","text":"hello"}`, want: inMsg{T: "clip", Text: "hello"}},
		{in: `{"t":"text","text":"你好，世界\n"}`, want: inMsg{T: "text", Text: "你好，世界\n"}},
		{in: `{"t":"text","text":"😀\té"}`, want: inMsg{T: "text", Text: "😀\té"}},
		{in: `{"t":"text"}`, err: `no "text"`},
		{in: `{"t":"text","text":"a\u0007"}`, err: "control character U+0007"},
		{in: `{"t":"text","text":"` + strings.Repeat("字", maxTextRunes+1) + `"}`, err: "over the limit of 1024"},
		{in: `{"t":"resize","w":1281,"h":721}`, want: inMsg{T: "resize", W: 1280, H: 720}},
		{in: `{"t":"keyframe"}`, want: inMsg{T: "keyframe"}},
		{in: `[]`, err: "not a JSON object"},
		{in: `{"x":1}`, err: `no "t"`},
		{in: `{"t":"launch"}`, err: `unknown message type "launch"`},
		{in: `{"t":"move","x":-1,"y":0}`, err: "off the screen"},
		{in: `{"t":"move","x":1,"y":99999}`, err: "off the screen"},
		{in: `{"t":"button","b":0}`, err: "buttons are 1 to 9"},
		{in: `{"t":"wheel","dy":1e9}`, err: "out of range"},
		{in: `{"t":"key","key":""}`, err: "need a key name"},
		{in: `{"t":"key","key":"` + strings.Repeat("a", 33) + `"}`, err: "need a key name"},
		{in: `{"t":"resize","w":100,"h":100}`, err: "sides must be within"},
		{in: `{"t":"clip","text":"` + strings.Repeat("a", maxClipBytes+1) + `"}`, err: "over the limit"},
		{in: `{"t":"` + strings.Repeat("é", 50) + `"}`, err: "…"},
	} {
		got, err := parseInput([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.60s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%.60s: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseInput: any bytes from the network give a message or an error,
// never a panic, and an accepted message is within the limits.
func FuzzParseInput(f *testing.F) {
	for _, s := range []string{`{"t":"move","x":1,"y":2}`, `{"t":"key","down":true,"key":"a","code":"KeyA"}`,
		`{"t":"resize","w":1280,"h":720}`, `{"t":"clip","text":"x"}`, `{"t":"text","text":"日本語"}`, `{"t":"wheel","dx":1.5}`, `null`, `{"t":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseInput(data)
		if err != nil {
			return
		}
		if m.T == "move" && (m.X < 0 || m.Y < 0 || m.X >= maxCoord || m.Y >= maxCoord) {
			t.Fatalf("accepted %+v", m)
		}
		if m.T == "text" && checkText(m.Text) != nil {
			t.Fatalf("accepted text %q", m.Text)
		}
		if m.T == "resize" && (m.W%2 != 0 || m.H%2 != 0) {
			t.Fatalf("accepted odd size %+v", m)
		}
	})
}
