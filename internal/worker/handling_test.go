package worker

import "testing"

// The delivery with the higher receive count decides, whatever order the answers come in: a
// failed first delivery whose answer is recorded after its redelivery succeeded is not
// unresolved.
func TestHandlingLaterDeliveryWins(t *testing.T) {
	first := handling{receive: 1, failed: true}
	second := handling{receive: 2}
	var none handling
	for _, tc := range []struct {
		name  string
		order []handling
		want  handling
	}{
		{"in order", []handling{first, second}, second},
		{"the earlier answer late", []handling{second, first}, second},
		{"one delivery", []handling{first}, first},
		{"no receive counts: the last recorded", []handling{{failed: true}, {}}, none},
	} {
		var h handling
		for _, o := range tc.order {
			h = h.later(o)
		}
		if h != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, h, tc.want)
		}
	}
}
