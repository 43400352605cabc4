package doctor

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestWriteTextAlignsAndShowsRemedies(t *testing.T) {
	checks := []Check{
		{Name: "sshd", Status: OK, Detail: "fine"},
		{Name: "command-path", Status: Fail, Detail: "bad\nsecond line", Remedy: "fix it"},
		{Name: "clock", Status: Warn, Detail: "off", Remedy: "sync it"},
	}
	var b bytes.Buffer
	if err := WriteText(&b, checks); err != nil {
		t.Fatal(err)
	}
	want := "ok   sshd          fine\n" +
		"fail command-path  bad second line\n" +
		"     remedy: fix it\n" +
		"warn clock         off\n" +
		"     remedy: sync it\n"
	if b.String() != want {
		t.Fatalf("text output:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSONFieldNamesAreStable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, []Check{{Name: "clock", Status: Warn, Detail: "off", Remedy: "sync"}, {Name: "logs", Status: OK, Detail: "journald"}}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON array of objects: %v\n%s", err, b.String())
	}
	want := []map[string]string{
		{"name": "clock", "status": "warn", "detail": "off", "remedy": "sync"},
		{"name": "logs", "status": "ok", "detail": "journald"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("object %d: %v, want %v", i, got[i], want[i])
		}
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Fatalf("object %d field %q: %q, want %q", i, k, got[i][k], v)
			}
		}
	}
}

func TestWriteJSONOfNothingIsAnEmptyArray(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, nil); err != nil || b.String() != "[]\n" {
		t.Fatalf("WriteJSON(nil) = %q, %v; want []", b.String(), err)
	}
}

func TestRunOrdersEveryCheckAndFailsOnAnyFailure(t *testing.T) {
	in := newInstance(t, nil, false)
	in.o.SSHD = "/nonexistent/sshd" // sshd cannot be asked: that check fails
	checks := New(in.o).Run(testContext(t))
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}
	want := []string{"sshd", "command-path", "command-user", "platform", "imds", "clock", "signer", "service", "logs"}
	if len(names) != len(want) {
		t.Fatalf("checks %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("checks %v, want %v", names, want)
		}
	}
	if checks[0].Status != Fail || !Failed(checks) {
		t.Fatalf("sshd check %+v, Failed %v; want a failure", checks[0], Failed(checks))
	}
	for _, c := range checks[3:7] { // platform, imds, clock, signer against a healthy emulator
		if c.Status != OK {
			t.Errorf("check %s: %s %q; want ok", c.Name, c.Status, c.Detail)
		}
	}
}
