package desktop

import (
	"fmt"
	"unicode"
)

// textKey is the id under which Type holds the key of each character, so
// that it never meets a key the viewer holds.
const textKey = "\x00text"

// Type types text, the committed text of an input method (Chinese,
// Japanese, Korean composition) or any other string, character by
// character: each as Key types a printable key, through a spare keycode
// remapped to it when the keymap lacks it (any Unicode character has an X
// keysym). '\n' is typed as Enter and '\t' as Tab; other control
// characters are refused. Control, Alt and Super held by the viewer are
// released while it types, since committed text is not a shortcut, and
// pressed again after.
func (in *Input) Type(text string) error {
	for i, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fmt.Errorf("type: control character %U at byte %d", r, i)
		}
	}
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	in.restorePending()
	lifted := in.lift(func(o *heldKey) bool {
		return isControlSym(o.sym) || isAltSym(o.sym) || o.sym == xkSuperL || o.sym == xkSuperR
	})
	in.typing = true
	err := in.typeText(text)
	in.typing = false
	in.undo(&heldKey{lifted: lifted})
	if ferr := in.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("type %d characters: %w", len([]rune(text)), err)
	}
	return nil
}

func (in *Input) typeText(text string) error {
	for _, r := range text {
		key := string(r)
		switch r {
		case '\n':
			key = "Enter"
		case '\t':
			key = "Tab"
		}
		if err := in.keyDownAs(textKey, key, ""); err != nil {
			return fmt.Errorf("%q: %w", r, err)
		}
		if err := in.keyUp(textKey); err != nil {
			return fmt.Errorf("%q: %w", r, err)
		}
	}
	return nil
}
