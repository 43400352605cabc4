package procgroup

import (
	"errors"
	"testing"
)

func TestOutput(t *testing.T) {
	tests := []struct {
		name          string
		strict        bool
		writes        []string
		wantKept      string
		wantDiscarded int64
		wantErrAt     int // index of the write that must fail; -1 none
	}{
		{"within-max-kept", false, []string{"ab", "cd"}, "abcd", 0, -1},
		{"past-max-dropped-and-counted", false, []string{"abc", "defg"}, "abcde", 2, -1},
		{"already-full-drops-all", false, []string{"abcde", "xyz"}, "abcde", 3, -1},
		{"strict-fails-the-write-past-max", true, []string{"abc", "def"}, "abc", 3, 1},
		{"strict-exactly-max-passes", true, []string{"abcde"}, "abcde", 0, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &Output{Max: 5, Strict: tc.strict}
			for i, w := range tc.writes {
				n, err := o.Write([]byte(w))
				if i == tc.wantErrAt {
					if !errors.Is(err, errTooLarge) || n != 0 {
						t.Errorf("write %d: (%d, %v), want (0, output too large)", i, n, err)
					}
					continue
				}
				if err != nil || n != len(w) {
					t.Errorf("write %d: (%d, %v), want (%d, nil)", i, n, err, len(w))
				}
			}
			if o.String() != tc.wantKept || o.Discarded != tc.wantDiscarded {
				t.Errorf("kept %q, discarded %d; want %q, %d", o.String(), o.Discarded, tc.wantKept, tc.wantDiscarded)
			}
		})
	}
}
