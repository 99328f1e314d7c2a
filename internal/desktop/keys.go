package desktop

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// X keysyms used by the key translation and the keyboard code.
const (
	xkBackSpace        = 0xff08
	xkTab              = 0xff09
	xkClear            = 0xff0b
	xkReturn           = 0xff0d
	xkPause            = 0xff13
	xkScrollLock       = 0xff14
	xkEscape           = 0xff1b
	xkMultiKey         = 0xff20
	xkMuhenkan         = 0xff22
	xkHenkan           = 0xff23
	xkHiraganaKatakana = 0xff27
	xkZenkakuHankaku   = 0xff2a
	xkHangul           = 0xff31
	xkHangulHanja      = 0xff34
	xkHome             = 0xff50
	xkLeft             = 0xff51
	xkUp               = 0xff52
	xkRight            = 0xff53
	xkDown             = 0xff54
	xkPrior            = 0xff55
	xkNext             = 0xff56
	xkEnd              = 0xff57
	xkSelect           = 0xff60
	xkPrint            = 0xff61
	xkExecute          = 0xff62
	xkInsert           = 0xff63
	xkUndo             = 0xff65
	xkRedo             = 0xff66
	xkMenu             = 0xff67
	xkFind             = 0xff68
	xkCancel           = 0xff69
	xkHelp             = 0xff6a
	xkModeSwitch       = 0xff7e
	xkNumLock          = 0xff7f
	xkKPEnter          = 0xff8d
	xkKPHome           = 0xff95
	xkKPLeft           = 0xff96
	xkKPUp             = 0xff97
	xkKPRight          = 0xff98
	xkKPDown           = 0xff99
	xkKPPrior          = 0xff9a
	xkKPNext           = 0xff9b
	xkKPEnd            = 0xff9c
	xkKPBegin          = 0xff9d
	xkKPInsert         = 0xff9e
	xkKPDelete         = 0xff9f
	xkKPMultiply       = 0xffaa
	xkKPAdd            = 0xffab
	xkKPSeparator      = 0xffac
	xkKPSubtract       = 0xffad
	xkKPDecimal        = 0xffae
	xkKPDivide         = 0xffaf
	xkKP0              = 0xffb0
	xkKPEqual          = 0xffbd
	xkF1               = 0xffbe
	xkShiftL           = 0xffe1
	xkShiftR           = 0xffe2
	xkControlL         = 0xffe3
	xkControlR         = 0xffe4
	xkCapsLock         = 0xffe5
	xkShiftLock        = 0xffe6
	xkMetaL            = 0xffe7
	xkMetaR            = 0xffe8
	xkAltL             = 0xffe9
	xkAltR             = 0xffea
	xkSuperL           = 0xffeb
	xkSuperR           = 0xffec
	xkHyperL           = 0xffed
	xkHyperR           = 0xffee
	xkDelete           = 0xffff
	xkISOLevel3Shift   = 0xfe03
	xkISOLevel5Shift   = 0xfe11

	// X's Unicode keysyms: 0x01000000 + the code point.
	xkUnicode = 0x01000000
)

// namedKeys maps the KeyboardEvent.key names that do not depend on which
// of two keys (left or right, main or numeric pad) was pressed.
var namedKeys = map[string]uint32{
	"Enter":       xkReturn,
	"Tab":         xkTab,
	"Backspace":   xkBackSpace,
	"Escape":      xkEscape,
	"Delete":      xkDelete,
	"Insert":      xkInsert,
	"Home":        xkHome,
	"End":         xkEnd,
	"PageUp":      xkPrior,
	"PageDown":    xkNext,
	"ArrowLeft":   xkLeft,
	"ArrowUp":     xkUp,
	"ArrowRight":  xkRight,
	"ArrowDown":   xkDown,
	"CapsLock":    xkCapsLock,
	"NumLock":     xkNumLock,
	"ScrollLock":  xkScrollLock,
	"Pause":       xkPause,
	"PrintScreen": xkPrint,
	"ContextMenu": xkMenu,
	"Clear":       xkClear,
	"Help":        xkHelp,
	"Select":      xkSelect,
	"Execute":     xkExecute,
	"Undo":        xkUndo,
	"Redo":        xkRedo,
	"Find":        xkFind,
	"Cancel":      xkCancel,
	"Compose":     xkMultiKey,
	// Input method keys.
	"Convert":        xkHenkan,
	"NonConvert":     xkMuhenkan,
	"KanaMode":       xkHiraganaKatakana,
	"ZenkakuHankaku": xkZenkakuHankaku,
	"HangulMode":     xkHangul,
	"HanjaMode":      xkHangulHanja,
	// Browser and media keys (XF86 keysyms).
	"BrowserBack":        0x1008ff26,
	"BrowserForward":     0x1008ff27,
	"BrowserStop":        0x1008ff28,
	"BrowserRefresh":     0x1008ff29,
	"BrowserSearch":      0x1008ff1b,
	"BrowserHome":        0x1008ff18,
	"BrowserFavorites":   0x1008ff30,
	"AudioVolumeDown":    0x1008ff11,
	"AudioVolumeMute":    0x1008ff12,
	"AudioVolumeUp":      0x1008ff13,
	"MediaPlayPause":     0x1008ff14,
	"MediaStop":          0x1008ff15,
	"MediaTrackPrevious": 0x1008ff16,
	"MediaTrackNext":     0x1008ff17,
}

// ignoredKeys are keys the viewer may send that are deliberately not
// typed: AltGraph (the character it selects arrives as key), dead keys
// (the composed character arrives next) and keys the browser could not
// name.
var ignoredKeys = map[string]bool{
	"AltGraph":     true,
	"Dead":         true,
	"Unidentified": true,
	"Process":      true, // an input method is composing
	"Fn":           true,
	"FnLock":       true,
	"":             true,
}

// keyIgnored reports whether key is one the viewer may send that is on
// purpose not typed (see ignoredKeys).
func keyIgnored(key string) bool { return ignoredKeys[key] }

// keysymFor maps a browser KeyboardEvent's key and code to the X keysym to
// type, or ok false when there is none (see keyIgnored for the keys left
// out on purpose).
//
// A printable key (one character) maps to the character's keysym; code
// only chooses left or right for modifiers and the keypad keysyms for keys
// of the numeric pad. ctrlOnly says Control is held without Alt: the key
// is then a shortcut, and when key is not ASCII (a Cyrillic or Greek
// layout, or é on a French one) the character comes from code as the US
// layout would give it, so Ctrl+С on a Russian layout is Ctrl+C.
func keysymFor(key, code string, ctrlOnly bool) (sym uint32, ok bool) {
	if keyIgnored(key) {
		return 0, false
	}
	if strings.HasPrefix(code, "Numpad") {
		if s, ok := keypadKeysym(key, code); ok {
			return s, true
		}
	}
	if r, ok := printableRune(key); ok {
		if ctrlOnly && r >= 0x80 {
			if u, ok := usCharForCode(code); ok {
				r = u
			}
		}
		return runeKeysym(r), true
	}
	switch key {
	case "Shift":
		return leftRight(code, "ShiftRight", xkShiftL, xkShiftR), true
	case "Control":
		return leftRight(code, "ControlRight", xkControlL, xkControlR), true
	case "Alt":
		return leftRight(code, "AltRight", xkAltL, xkAltR), true
	case "Meta", "OS", "Super":
		// The browser's Meta is the Windows or Command key: Super in X.
		if code == "MetaRight" || code == "OSRight" {
			return xkSuperR, true
		}
		return xkSuperL, true
	case "Hyper":
		return leftRight(code, "HyperRight", xkHyperL, xkHyperR), true
	}
	if s, ok := namedKeys[key]; ok {
		return s, true
	}
	if n, ok := strings.CutPrefix(key, "F"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= 24 && n[0] != '0' {
			return xkF1 + uint32(i-1), true
		}
	}
	return 0, false
}

func leftRight(code, right string, l, r uint32) uint32 {
	if code == right {
		return r
	}
	return l
}

// printableRune returns the character key names when it is one printable
// character (a Unicode scalar that is not a control character).
func printableRune(key string) (rune, bool) {
	r, n := utf8.DecodeRuneInString(key)
	if n == 0 || n != len(key) || r == utf8.RuneError || unicode.IsControl(r) {
		return 0, false
	}
	return r, true
}

// runeKeysym is the keysym of a character: Latin-1 keysyms are the code
// point, the others X's Unicode keysyms.
func runeKeysym(r rune) uint32 {
	if (r >= 0x20 && r <= 0x7e) || (r >= 0xa0 && r <= 0xff) {
		return uint32(r)
	}
	return xkUnicode | uint32(r)
}

// keysymRune is the character a keysym types, for the Latin-1 and Unicode
// keysyms and the euro sign's legacy keysym; ok false for the others.
func keysymRune(sym uint32) (rune, bool) {
	switch {
	case (sym >= 0x20 && sym <= 0x7e) || (sym >= 0xa0 && sym <= 0xff):
		return rune(sym), true
	case sym >= xkUnicode+0x100 && sym <= xkUnicode+0x10ffff:
		return rune(sym - xkUnicode), true
	case sym == 0x20ac: // EuroSign
		return '€', true
	}
	return 0, false
}

// usCharForCode is the unshifted character of a key on the US layout, for
// the letter, digit and punctuation keys.
func usCharForCode(code string) (rune, bool) {
	if l, ok := strings.CutPrefix(code, "Key"); ok && len(l) == 1 && l[0] >= 'A' && l[0] <= 'Z' {
		return rune(l[0]) + 'a' - 'A', true
	}
	if d, ok := strings.CutPrefix(code, "Digit"); ok && len(d) == 1 && d[0] >= '0' && d[0] <= '9' {
		return rune(d[0]), true
	}
	switch code {
	case "Minus":
		return '-', true
	case "Equal":
		return '=', true
	case "BracketLeft":
		return '[', true
	case "BracketRight":
		return ']', true
	case "Backslash":
		return '\\', true
	case "Semicolon":
		return ';', true
	case "Quote":
		return '\'', true
	case "Backquote":
		return '`', true
	case "Comma":
		return ',', true
	case "Period":
		return '.', true
	case "Slash":
		return '/', true
	case "Space":
		return ' ', true
	}
	return 0, false
}

// keypadKeysym maps a key of the numeric pad to its KP_ keysym: the digit
// or operator it typed with NumLock on, or the movement key with NumLock
// off.
func keypadKeysym(key, code string) (uint32, bool) {
	if len(key) == 1 && key[0] >= '0' && key[0] <= '9' {
		return xkKP0 + uint32(key[0]-'0'), true
	}
	switch key {
	case ".":
		return xkKPDecimal, true
	case ",":
		return xkKPSeparator, true
	case "+":
		return xkKPAdd, true
	case "-":
		return xkKPSubtract, true
	case "*":
		return xkKPMultiply, true
	case "/":
		return xkKPDivide, true
	case "=":
		return xkKPEqual, true
	case "Enter":
		return xkKPEnter, true
	case "Home":
		return xkKPHome, true
	case "End":
		return xkKPEnd, true
	case "ArrowLeft":
		return xkKPLeft, true
	case "ArrowUp":
		return xkKPUp, true
	case "ArrowRight":
		return xkKPRight, true
	case "ArrowDown":
		return xkKPDown, true
	case "PageUp":
		return xkKPPrior, true
	case "PageDown":
		return xkKPNext, true
	case "Insert":
		return xkKPInsert, true
	case "Delete":
		return xkKPDelete, true
	case "Clear":
		return xkKPBegin, true
	}
	return 0, false
}

// isModifierKeysym reports whether sym is a modifier or lock key: the
// browser repeats these while held, and a repeat must not type again.
func isModifierKeysym(sym uint32) bool {
	switch {
	case sym >= xkShiftL && sym <= xkHyperR,
		sym >= xkISOLevel3Shift && sym <= xkISOLevel5Shift+2,
		sym == xkNumLock, sym == xkScrollLock, sym == xkModeSwitch:
		return true
	}
	return false
}

// isKeypadKeysym reports whether sym is one of the KP_ keysyms, which
// NumLock turns from movement into digits.
func isKeypadKeysym(sym uint32) bool {
	return sym >= 0xff80 && sym <= 0xffbd
}

// caseOf returns the lower and upper case keysyms of a character keysym;
// both are sym when it has no case.
func caseOf(sym uint32) (lower, upper uint32) {
	r, ok := keysymRune(sym)
	if !ok {
		return sym, sym
	}
	lo, up := unicode.ToLower(r), unicode.ToUpper(r)
	if lo == up || unicode.ToUpper(lo) != up || unicode.ToLower(up) != lo {
		return sym, sym
	}
	return runeKeysym(lo), runeKeysym(up)
}
