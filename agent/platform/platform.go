// Package platform answers "am I on EC2?" from sysfs, before anything trusts
// IMDS.
//
// Contract: Detect only reads two small sysfs files under a configurable root
// (tests pass a temp dir); it never touches the network. On Xen instances
// hypervisor/uuid must start with "ec2". Otherwise (Nitro) the DMI board asset
// tag must hold an instance id, and Result.Confirm must then be given the
// instance id IMDS reports: a mismatch means the metadata service answering is
// not this machine's, so nothing it serves may be trusted. Any doubt (missing
// file, unreadable file, odd content) answers NotEC2, and the caller does
// nothing. Errors from Confirm wrap ErrNotEC2.
package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/eic-agent/eic-agent/agent/imds"

	"github.com/eic-agent/eic-agent/agent/localfile"
)

// Kind is the kind of machine Detect found.
type Kind int

const (
	// NotEC2 means neither Xen nor Nitro evidence was found.
	NotEC2 Kind = iota
	// Xen means /sys/hypervisor/uuid starts with "ec2".
	Xen
	// Nitro means the DMI board asset tag holds an instance id.
	Nitro
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case NotEC2:
		return "not-ec2"
	case Xen:
		return "xen"
	case Nitro:
		return "nitro"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ErrNotEC2 is wrapped by every Confirm error: the caller should do nothing
// (exit 0 with one log line) rather than fail the login loudly.
var ErrNotEC2 = errors.New("not an EC2 instance")

// Result is what Detect found and why.
type Result struct {
	Kind     Kind
	AssetTag string // Nitro only: the instance id from the board asset tag
	Reason   string // one line for the log, for every Kind
}

// DefaultSysfsRoot is used when Detect is given an empty root.
const DefaultSysfsRoot = "/sys"

// maxRead bounds each sysfs read; the real files are a few dozen bytes.
const maxRead = 4 << 10

// Detect inspects sysfsRoot (DefaultSysfsRoot when empty) following the
// upstream order: hypervisor/uuid decides when it exists, the board asset tag
// only when it does not.
func Detect(sysfsRoot string) Result {
	if sysfsRoot == "" {
		sysfsRoot = DefaultSysfsRoot
	}
	uuidPath := filepath.Join(sysfsRoot, "hypervisor", "uuid")
	uuid, err := readAttr(uuidPath)
	switch {
	case err == nil:
		if strings.HasPrefix(uuid, "ec2") {
			return Result{Kind: Xen, Reason: uuidPath + " starts with ec2"}
		}
		return Result{Kind: NotEC2, Reason: fmt.Sprintf("%s is %q, which does not start with ec2", uuidPath, truncate(uuid))}
	case !errors.Is(err, fs.ErrNotExist):
		return Result{Kind: NotEC2, Reason: fmt.Sprintf("read %s: %v", uuidPath, err)}
	}

	tagPath := filepath.Join(sysfsRoot, "devices", "virtual", "dmi", "id", "board_asset_tag")
	tag, err := readAttr(tagPath)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{Kind: NotEC2, Reason: fmt.Sprintf("neither %s nor %s exists", uuidPath, tagPath)}
	}
	if err != nil {
		return Result{Kind: NotEC2, Reason: fmt.Sprintf("read %s: %v", tagPath, err)}
	}
	tag = strings.TrimSpace(tag)
	if !imds.ValidInstanceID(tag) {
		return Result{Kind: NotEC2, Reason: fmt.Sprintf("%s is %q, which is not an instance id", tagPath, truncate(tag))}
	}
	return Result{Kind: Nitro, AssetTag: tag, Reason: tagPath + " holds instance id " + tag}
}

// Confirm checks the detection against the instance id IMDS reported. Nitro
// requires the asset tag to equal it; Xen has nothing to compare against.
func (r Result) Confirm(instanceID string) error {
	switch r.Kind {
	case Xen:
		return nil
	case Nitro:
		if r.AssetTag != instanceID {
			return fmt.Errorf("%w: board asset tag %q does not match instance id %q from IMDS", ErrNotEC2, r.AssetTag, instanceID)
		}
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotEC2, r.Reason)
}

func readAttr(path string) (string, error) {
	b, err := localfile.Read(path, maxRead, nil)
	return string(b), err
}

// truncate keeps log lines short when a file holds something unexpected.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
