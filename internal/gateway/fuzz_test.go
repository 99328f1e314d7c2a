package gateway

import "testing"

// FuzzDecodeIdentity: an internal listener parses the identity header of
// every request from a gateway; no value may panic, and one it accepts
// encodes back to the same identity.
func FuzzDecodeIdentity(f *testing.F) {
	f.Add(encodeIdentity(alice))
	f.Add(encodeIdentity(root))
	f.Add("e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		id, err := DecodeIdentity(v)
		if err != nil {
			return
		}
		again, err := DecodeIdentity(encodeIdentity(id))
		if err != nil || *again != *id {
			t.Fatalf("%q decoded to %+v, which does not round-trip: %+v %v", v, id, again, err)
		}
	})
}
