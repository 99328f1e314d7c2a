package desktop

import (
	"fmt"
	"testing"
)

func TestKeysymFor(t *testing.T) {
	u := func(r rune) uint32 { return 0x01000000 | uint32(r) }
	for _, tc := range []struct {
		name      string
		key, code string
		ctrlOnly  bool
		want      uint32
		ok        bool
	}{
		// ASCII and Latin-1: the code point.
		{"letter", "a", "KeyA", false, 'a', true},
		{"capital", "A", "KeyA", false, 'A', true},
		{"digit", "1", "Digit1", false, '1', true},
		{"space", " ", "Space", false, 0x20, true},
		{"tilde", "~", "Backquote", false, '~', true},
		{"no-break space", "\u00a0", "Space", false, 0xa0, true},
		{"ÿ", "ÿ", "KeyY", false, 0xff, true},
		// French AZERTY.
		{"AZERTY é", "é", "Digit2", false, 0xe9, true},
		{"AZERTY è", "è", "Digit7", false, 0xe8, true},
		{"AZERTY ç", "ç", "Digit9", false, 0xe7, true},
		{"AZERTY à", "à", "Digit0", false, 0xe0, true},
		{"AZERTY ù", "ù", "Quote", false, 0xf9, true},
		{"AZERTY ²", "²", "Backquote", false, 0xb2, true},
		{"AZERTY @ (AltGr+à)", "@", "Digit0", false, '@', true},
		{"AZERTY € (AltGr+e)", "€", "KeyE", false, u('€'), true},
		{"AZERTY µ", "µ", "Backslash", false, 0xb5, true},
		{"AZERTY §", "§", "Slash", false, 0xa7, true},
		{"AZERTY °", "°", "Minus", false, 0xb0, true},
		{"AZERTY ~ (AltGr+é)", "~", "Digit2", false, '~', true},
		{"AZERTY a on KeyQ", "a", "KeyQ", false, 'a', true},
		// German QWERTZ.
		{"German ß", "ß", "Minus", false, 0xdf, true},
		{"German ü", "ü", "BracketLeft", false, 0xfc, true},
		{"German Ü", "Ü", "BracketLeft", false, 0xdc, true},
		{"German ö", "ö", "Semicolon", false, 0xf6, true},
		{"German ä", "ä", "Quote", false, 0xe4, true},
		{"German §", "§", "Digit3", false, 0xa7, true},
		{"German °", "°", "Backquote", false, 0xb0, true},
		{"German µ (AltGr+m)", "µ", "KeyM", false, 0xb5, true},
		{"German € (AltGr+e)", "€", "KeyE", false, u('€'), true},
		{"German @ (AltGr+q)", "@", "KeyQ", false, '@', true},
		{"German ~ (AltGr++)", "~", "BracketRight", false, '~', true},
		{"German z on KeyY", "z", "KeyY", false, 'z', true},
		// Beyond Latin-1: X's Unicode keysyms.
		{"Cyrillic", "ж", "Semicolon", false, u('ж'), true},
		{"Greek", "Ω", "KeyV", false, u('Ω'), true},
		{"Polish ł", "ł", "KeyL", false, u('ł'), true},
		{"CJK", "中", "KeyZ", false, u('中'), true},
		{"emoji", "😀", "", false, u('😀'), true},
		// With only Control held a non-ASCII key comes from code.
		{"Ctrl+c", "c", "KeyC", true, 'c', true},
		{"Ctrl+Shift+C", "C", "KeyC", true, 'C', true},
		{"Ctrl+a on AZERTY", "a", "KeyQ", true, 'a', true},
		{"Ctrl+с Cyrillic", "с", "KeyC", true, 'c', true},
		{"Ctrl+С Cyrillic", "С", "KeyC", true, 'c', true},
		{"Ctrl+л Cyrillic", "л", "KeyK", true, 'k', true},
		{"Ctrl+б Cyrillic", "б", "Comma", true, ',', true},
		{"Ctrl+ς Greek", "ς", "KeyW", true, 'w', true},
		{"Ctrl+é AZERTY", "é", "Digit2", true, '2', true},
		{"Ctrl+à AZERTY", "à", "Digit0", true, '0', true},
		{"Ctrl+ü German", "ü", "BracketLeft", true, '[', true},
		{"Ctrl+ non-ASCII, unknown code", "ж", "IntlRo", true, u('ж'), true},
		{"Ctrl+ non-ASCII, no code", "ж", "", true, u('ж'), true},
		{"non-ASCII without Ctrl keeps key", "с", "KeyC", false, u('с'), true},
		// Named keys.
		{"Enter", "Enter", "Enter", false, 0xff0d, true},
		{"Tab", "Tab", "Tab", false, 0xff09, true},
		{"Backspace", "Backspace", "Backspace", false, 0xff08, true},
		{"Escape", "Escape", "Escape", false, 0xff1b, true},
		{"Delete", "Delete", "Delete", false, 0xffff, true},
		{"Insert", "Insert", "Insert", false, 0xff63, true},
		{"Home", "Home", "Home", false, 0xff50, true},
		{"End", "End", "End", false, 0xff57, true},
		{"PageUp", "PageUp", "PageUp", false, 0xff55, true},
		{"PageDown", "PageDown", "PageDown", false, 0xff56, true},
		{"ArrowLeft", "ArrowLeft", "ArrowLeft", false, 0xff51, true},
		{"ArrowUp", "ArrowUp", "ArrowUp", false, 0xff52, true},
		{"ArrowRight", "ArrowRight", "ArrowRight", false, 0xff53, true},
		{"ArrowDown", "ArrowDown", "ArrowDown", false, 0xff54, true},
		{"F1", "F1", "F1", false, 0xffbe, true},
		{"F12", "F12", "F12", false, 0xffc9, true},
		{"F24", "F24", "F24", false, 0xffd5, true},
		{"F25", "F25", "", false, 0, false},
		{"F0", "F0", "", false, 0, false},
		{"F01", "F01", "", false, 0, false},
		{"CapsLock", "CapsLock", "CapsLock", false, 0xffe5, true},
		{"NumLock", "NumLock", "NumLock", false, 0xff7f, true},
		{"ScrollLock", "ScrollLock", "ScrollLock", false, 0xff14, true},
		{"Pause", "Pause", "Pause", false, 0xff13, true},
		{"PrintScreen", "PrintScreen", "PrintScreen", false, 0xff61, true},
		{"ContextMenu", "ContextMenu", "ContextMenu", false, 0xff67, true},
		{"BrowserBack", "BrowserBack", "BrowserBack", false, 0x1008ff26, true},
		{"Enter with Ctrl", "Enter", "Enter", true, 0xff0d, true},
		// Modifiers: left or right from code.
		{"ShiftLeft", "Shift", "ShiftLeft", false, 0xffe1, true},
		{"ShiftRight", "Shift", "ShiftRight", false, 0xffe2, true},
		{"ControlLeft", "Control", "ControlLeft", false, 0xffe3, true},
		{"ControlRight", "Control", "ControlRight", true, 0xffe4, true},
		{"AltLeft", "Alt", "AltLeft", false, 0xffe9, true},
		{"AltRight", "Alt", "AltRight", false, 0xffea, true},
		{"MetaLeft", "Meta", "MetaLeft", false, 0xffeb, true},
		{"MetaRight", "Meta", "MetaRight", false, 0xffec, true},
		{"Shift without code", "Shift", "", false, 0xffe1, true},
		// Keypad.
		{"Numpad1", "1", "Numpad1", false, 0xffb1, true},
		{"Numpad0", "0", "Numpad0", false, 0xffb0, true},
		{"NumpadDecimal", ".", "NumpadDecimal", false, 0xffae, true},
		{"NumpadDecimal German", ",", "NumpadDecimal", false, 0xffac, true},
		{"NumpadAdd", "+", "NumpadAdd", false, 0xffab, true},
		{"NumpadSubtract", "-", "NumpadSubtract", false, 0xffad, true},
		{"NumpadMultiply", "*", "NumpadMultiply", false, 0xffaa, true},
		{"NumpadDivide", "/", "NumpadDivide", false, 0xffaf, true},
		{"NumpadEnter", "Enter", "NumpadEnter", false, 0xff8d, true},
		{"Numpad7 NumLock off", "Home", "Numpad7", false, 0xff95, true},
		{"Numpad4 NumLock off", "ArrowLeft", "Numpad4", false, 0xff96, true},
		{"Numpad5 NumLock off", "Clear", "Numpad5", false, 0xff9d, true},
		{"NumpadDecimal NumLock off", "Delete", "NumpadDecimal", false, 0xff9f, true},
		{"Ctrl+NumpadAdd", "+", "NumpadAdd", true, 0xffab, true},
		// Not typed.
		{"AltGraph", "AltGraph", "AltRight", false, 0, false},
		{"Dead", "Dead", "BracketLeft", false, 0, false},
		{"Dead with Ctrl", "Dead", "Digit6", true, 0, false},
		{"Unidentified", "Unidentified", "", false, 0, false},
		{"Process", "Process", "KeyA", false, 0, false},
		{"empty", "", "", false, 0, false},
		{"unknown name", "LaunchRocket", "", false, 0, false},
		{"two characters", "ab", "", false, 0, false},
		{"combining sequence", "e\u0301", "", false, 0, false},
		{"control character", "\u0007", "", false, 0, false},
		{"C1 control", "\u0085", "", false, 0, false},
		{"invalid UTF-8", "\xff", "", false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := keysymFor(tc.key, tc.code, tc.ctrlOnly)
			if got != tc.want || ok != tc.ok {
				t.Errorf("keysymFor(%q, %q, %v) = %#x, %v; want %#x, %v", tc.key, tc.code, tc.ctrlOnly, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestKeyIgnored(t *testing.T) {
	for key, want := range map[string]bool{
		"Dead": true, "AltGraph": true, "Unidentified": true, "": true,
		"a": false, "Enter": false, "LaunchRocket": false,
	} {
		if got := keyIgnored(key); got != want {
			t.Errorf("keyIgnored(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestKeysymRune(t *testing.T) {
	for _, r := range []rune{' ', 'a', '~', 0xa0, 'é', 'ÿ', 'ł', 'ж', '€', '😀'} {
		got, ok := keysymRune(runeKeysym(r))
		if !ok || got != r {
			t.Errorf("keysymRune(runeKeysym(%q)) = %q, %v", r, got, ok)
		}
	}
	if r, ok := keysymRune(0x20ac); !ok || r != '€' {
		t.Errorf("EuroSign: %q, %v", r, ok)
	}
	for _, sym := range []uint32{0, 0x1f, 0x7f, 0x9f, 0xff0d, 0xffe1, 0x6c1} {
		if r, ok := keysymRune(sym); ok {
			t.Errorf("keysymRune(%#x) = %q, want none", sym, r)
		}
	}
}

func TestCaseOf(t *testing.T) {
	for _, tc := range []struct {
		in, lo, up rune
	}{
		{'a', 'a', 'A'}, {'A', 'a', 'A'}, {'é', 'é', 'É'}, {'Ü', 'ü', 'Ü'},
		{'ж', 'ж', 'Ж'}, {'Ω', 'ω', 'Ω'}, {'1', '1', '1'}, {'@', '@', '@'},
		{'ß', 'ß', 'ß'}, {'€', '€', '€'}, {'ÿ', 'ÿ', 'Ÿ'},
	} {
		t.Run(fmt.Sprintf("%c", tc.in), func(t *testing.T) {
			lo, up := caseOf(runeKeysym(tc.in))
			if lo != runeKeysym(tc.lo) || up != runeKeysym(tc.up) {
				t.Errorf("caseOf(%q) = %#x, %#x; want %q, %q", tc.in, lo, up, tc.lo, tc.up)
			}
		})
	}
	if lo, up := caseOf(0xff0d); lo != 0xff0d || up != 0xff0d {
		t.Errorf("caseOf(Return) = %#x, %#x", lo, up)
	}
}
