package platform

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	uuidFile = "hypervisor/uuid"
	tagFile  = "devices/virtual/dmi/id/board_asset_tag"
)

// fakeSysfs builds a sysfs root holding files (relative path -> content).
func fakeSysfs(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		wantKind   Kind
		wantTag    string
		wantReason string // substring
	}{
		{"xen-ec2-uuid", map[string]string{uuidFile: "ec2e1916-9099-7caf-fd21-012345abcdef\n"}, Xen, "", "starts with ec2"},
		{"xen-foreign-uuid", map[string]string{uuidFile: "4a1b2c3d-9099-7caf-fd21-012345abcdef\n"}, NotEC2, "", "does not start with ec2"},
		{"xen-uppercase-uuid-not-ec2", map[string]string{uuidFile: "EC2E1916-9099-7CAF-FD21-012345ABCDEF\n"}, NotEC2, "", "does not start with ec2"},
		{"uuid-decides-even-with-asset-tag", map[string]string{
			uuidFile: "00000000-0000-0000-0000-000000000000\n",
			tagFile:  "i-0123456789abcdef0\n",
		}, NotEC2, "", "does not start with ec2"},
		{"nitro-asset-tag", map[string]string{tagFile: "i-0123456789abcdef0\n"}, Nitro, "i-0123456789abcdef0", "holds instance id"},
		{"nitro-short-instance-id", map[string]string{tagFile: "i-0123abcd"}, Nitro, "i-0123abcd", "holds instance id"},
		{"nitro-asset-tag-whitespace-trimmed", map[string]string{tagFile: "  i-0123456789abcdef0 \n\n"}, Nitro, "i-0123456789abcdef0", ""},
		{"asset-tag-not-instance-id", map[string]string{tagFile: "Default string\n"}, NotEC2, "", "not an instance id"},
		{"asset-tag-uppercase-hex-refused", map[string]string{tagFile: "i-0123456789ABCDEF0\n"}, NotEC2, "", "not an instance id"},
		{"asset-tag-too-short", map[string]string{tagFile: "i-0123abc\n"}, NotEC2, "", "not an instance id"},
		{"asset-tag-too-long", map[string]string{tagFile: "i-" + strings.Repeat("a", 33)}, NotEC2, "", "not an instance id"},
		{"asset-tag-empty", map[string]string{tagFile: ""}, NotEC2, "", "not an instance id"},
		{"asset-tag-oversized", map[string]string{tagFile: "i-0123456789abcdef0" + strings.Repeat(" ", maxRead)}, NotEC2, "", "larger than 4096 bytes"},
		{"neither-file", map[string]string{}, NotEC2, "", "neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Detect(fakeSysfs(t, tc.files))
			if got.Kind != tc.wantKind || got.AssetTag != tc.wantTag {
				t.Errorf("Detect = {%v %q}, want {%v %q} (reason %q)", got.Kind, got.AssetTag, tc.wantKind, tc.wantTag, got.Reason)
			}
			if got.Reason == "" || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("Reason = %q, want non-empty and containing %q", got.Reason, tc.wantReason)
			}
		})
	}
}

func TestDetectUnreadableUUID(t *testing.T) {
	// A directory where the file should be exists but cannot be read as a
	// file: that is doubt, so not EC2, and the asset tag is not consulted.
	root := fakeSysfs(t, map[string]string{tagFile: "i-0123456789abcdef0\n"})
	if err := os.MkdirAll(filepath.Join(root, uuidFile), 0o755); err != nil {
		t.Fatal(err)
	}
	got := Detect(root)
	if got.Kind != NotEC2 || !strings.Contains(got.Reason, "read ") {
		t.Errorf("Detect = %+v, want NotEC2 with a read error reason", got)
	}
}

func TestConfirm(t *testing.T) {
	const id = "i-0123456789abcdef0"
	tests := []struct {
		name    string
		result  Result
		id      string
		wantErr string // substring; "" means nil
	}{
		{"nitro-matching-id", Result{Kind: Nitro, AssetTag: id}, id, ""},
		{"nitro-other-id-refused", Result{Kind: Nitro, AssetTag: id}, "i-0fedcba9876543210", `board asset tag "i-0123456789abcdef0" does not match instance id "i-0fedcba9876543210"`},
		{"nitro-empty-id-refused", Result{Kind: Nitro, AssetTag: id}, "", "does not match"},
		{"xen-any-id", Result{Kind: Xen}, id, ""},
		{"not-ec2-refused", Result{Kind: NotEC2, Reason: "neither file exists"}, id, "not an EC2 instance: neither file exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.result.Confirm(tc.id)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Confirm(%q) = %v, want nil", tc.id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Confirm(%q) = %v, want error containing %q", tc.id, err, tc.wantErr)
			}
			if !errors.Is(err, ErrNotEC2) {
				t.Errorf("Confirm(%q) error %v does not wrap ErrNotEC2", tc.id, err)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	got := []string{NotEC2.String(), Xen.String(), Nitro.String(), Kind(7).String()}
	want := []string{"not-ec2", "xen", "nitro", "Kind(7)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Kind.String (-want +got):\n%s", diff)
	}
}
