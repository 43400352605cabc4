package testenv

import (
	"os"
	"strings"
	"testing"
)

func TestMountPointsReadsTheFifthField(t *testing.T) {
	info := "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n23 22 0:5 / /run rw - tmpfs tmpfs rw\n"
	if got, want := mountPoints([]byte(info)), "/\n/run"; got != want {
		t.Fatalf("mountPoints = %q, want %q", got, want)
	}
}

func TestLeftoversReportsProcessesInTheNamespace(t *testing.T) {
	s, err := snapshot()
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skip("no /proc/self/ns/net here")
	}
	// This process is "still in" its own namespace: the check must say so.
	err = s.leftovers(own)
	if err == nil || !strings.Contains(err.Error(), "still in the test network namespace") {
		t.Fatalf("leftovers(own netns) = %v; want a report of this process", err)
	}
	if err := s.leftovers("net:[0]"); err != nil {
		t.Fatalf("leftovers with an unused namespace = %v; want nil", err)
	}
}

func TestLeftoversReportsChangedMounts(t *testing.T) {
	s, err := snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s.mounts += "\n/some/mount/that/went/away"
	if err := s.leftovers(""); err == nil || !strings.Contains(err.Error(), "host mounts changed") {
		t.Fatalf("leftovers with a different mount table = %v; want a report", err)
	}
}
