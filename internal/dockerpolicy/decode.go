package dockerpolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// decodeStrict decodes body into v (a pointer to a Docker SDK type) the way
// dockerd would read it, but refuses everything dockerd would quietly accept
// and a careless proxy might judge differently: invalid UTF-8, duplicate
// keys, keys in one object that differ only by case (Go's decoder folds
// case, Unicode folds included: "ſ" matches "s", the Kelvin sign "k"), unknown
// and legacy fields, and trailing data after the object.
func decodeStrict(body []byte, v any, legacy map[string]map[string]string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("json", "request body is empty; a JSON object is required")
	}
	if !utf8.Valid(body) {
		return badRequest("json", "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := walker{dec: dec, legacy: legacy}
	if err := w.value(reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("json", "request body has data after the JSON object")
	}
	strict := json.NewDecoder(bytes.NewReader(body))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return badRequest("json", "request body does not match the Docker API: %s", jsonErrText(err))
	}
	return nil
}

// jsonErrText keeps decoder errors short and free of Go type names.
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has a value of the wrong type (%s)", te.Field, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// walker checks the token stream against the shape of the target type.
type walker struct {
	dec    *json.Decoder
	legacy map[string]map[string]string // object path -> folded key -> why it is refused
	depth  int
}

const maxDepth = 32

func (w *walker) value(t reflect.Type, at string) error {
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > maxDepth {
		return badRequest("json", "request body nests deeper than %d levels", maxDepth)
	}
	tok, err := w.dec.Token()
	if err != nil {
		return badRequest("json", "malformed JSON at %s: %s", where(at), jsonErrText(err))
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Types with their own decoder (StrSlice, PortSet, ...) accept several
	// shapes; judge those generically.
	if t != nil && (reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface) {
		t = nil
	}
	switch tok {
	case json.Delim('{'):
		switch {
		case t == nil:
			return w.object(nil, nil, at)
		case t.Kind() == reflect.Struct:
			return w.object(fieldsOf(t), nil, at)
		case t.Kind() == reflect.Map:
			return w.object(nil, t.Elem(), at)
		default:
			return badRequest("json", "%s must not be an object", where(at))
		}
	case json.Delim('['):
		var elem reflect.Type
		if t != nil {
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return badRequest("json", "%s must not be an array", where(at))
			}
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil {
			return badRequest("json", "malformed JSON at %s: %s", where(at), jsonErrText(err))
		}
	}
	return nil
}

// object walks one JSON object. fields is set for a struct (keys are field
// names, matched by folding), elem for a map (keys are data, matched exactly).
func (w *walker) object(fields map[string]reflect.Type, elem reflect.Type, at string) error {
	seen := map[string]string{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return badRequest("json", "malformed JSON at %s: %s", where(at), jsonErrText(err))
		}
		key, _ := tok.(string)
		child := at + "." + key
		if at == "" {
			child = key
		}
		if fields == nil {
			if _, dup := seen[key]; dup {
				return badRequest("json", "duplicate key %q in %s", key, where(at))
			}
			seen[key] = key
			if err := w.value(elem, child); err != nil {
				return err
			}
			continue
		}
		folded := foldKey(key)
		if prev, dup := seen[folded]; dup {
			if prev == key {
				return badRequest("json", "duplicate key %q in %s", key, where(at))
			}
			return badRequest("json", "keys %q and %q in %s differ only by case; dockerd would read them as one field", prev, key, where(at))
		}
		seen[folded] = key
		if lf := w.legacy[foldKey(at)]; lf != nil {
			if why, ok := lf[folded]; ok {
				return refuse("legacy-field", "field %q is refused: %s", key, why)
			}
		}
		ft, ok := fields[folded]
		if !ok {
			return badRequest("json", "unknown field %q in %s", key, where(at))
		}
		if err := w.value(ft, child); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return badRequest("json", "malformed JSON at %s: %s", where(at), jsonErrText(err))
	}
	return nil
}

func where(at string) string {
	if at == "" {
		return "the request body"
	}
	return fmt.Sprintf("%q", at)
}

// foldKey maps a key to the form under which encoding/json (and so dockerd)
// considers two keys the same field: bytes.EqualFold equivalence, which
// applies Unicode simple folding.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		// The smallest rune of a fold orbit is a canonical representative:
		// "K", "k" and the Kelvin sign all map to "K".
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// fieldsOf lists the JSON fields of struct type t by folded name, flattening
// embedded structs the way encoding/json does.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" && !strings.Contains(tag, ",") {
				continue
			}
			ft := f.Type
			if f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					add(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			k := foldKey(name)
			if _, ok := out[k]; !ok {
				out[k] = f.Type
			}
		}
	}
	add(t)
	return out
}
