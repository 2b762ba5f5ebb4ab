// Package functions_test checks the Lambda packages `make package` builds.
package functions_test

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var functions = []string{"enforcer", "reconciler"}

// pack runs scripts/package.sh as `make package` does, into a temporary directory, and returns
// the directory.
func pack(t *testing.T) string {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "scripts", "package.sh")}, functions...)...)
	// The script's default is the deployment's arm64; a GOARCH or GOOS of this process would
	// change it (and the helper it runs with go run).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOARCH=") && !strings.HasPrefix(kv, "GOOS=") && !strings.HasPrefix(kv, "DIST=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, out)
	}
	return dist
}

// TestPackages checks what Lambda's provided.al2023 on arm64 needs — one file named bootstrap,
// an executable static ELF for aarch64, built with -tags lambda.norpc and -trimpath — and that
// the same source gives byte-identical zips.
func TestPackages(t *testing.T) {
	first, second := pack(t), pack(t)
	for _, fn := range functions {
		t.Run(fn, func(t *testing.T) {
			a, err := os.ReadFile(filepath.Join(first, fn+".zip"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(second, fn+".zip"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("two builds of %s.zip differ: the package is not reproducible", fn)
			}
			if len(a) > 10<<20 {
				t.Errorf("%s.zip is %d bytes, over 10 MB", fn, len(a))
			}
			checkZip(t, filepath.Join(first, fn+".zip"))
		})
	}
}

func checkZip(t *testing.T, path string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		t.Fatalf("the zip holds %d file(s), the first %q; want just bootstrap", len(zr.File), zr.File[0].Name)
	}
	if mode := zr.File[0].Mode(); mode&0o111 == 0 {
		t.Fatalf("bootstrap is not executable: %v", mode)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	f, err := os.Create(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("bootstrap is not ELF: %v", err)
	}
	defer ef.Close()
	if ef.Machine != elf.EM_AARCH64 || ef.Class != elf.ELFCLASS64 || ef.Type != elf.ET_EXEC {
		t.Fatalf("bootstrap is %v %v %v, want an aarch64 64-bit executable", ef.Machine, ef.Class, ef.Type)
	}
	if ef.Section(".interp") != nil {
		t.Fatal("bootstrap is dynamically linked; provided.al2023 wants a static binary (CGO_ENABLED=0)")
	}
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	for _, want := range []string{"-tags=lambda.norpc", "GOARCH=arm64", "GOOS=linux", "CGO_ENABLED=0", "-trimpath=true"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("go version -m lacks %s:\n%s", want, out)
		}
	}
}
