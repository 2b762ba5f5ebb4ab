package main

import (
	"archive/zip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageZip builds dist/enforcer.zip as `make package` does (scripts/package.sh, into a
// temporary directory) and checks what Lambda's provided.al2023 on arm64 needs: one file named
// bootstrap, an ELF executable for aarch64, built with -tags lambda.norpc.
func TestPackageZip(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the function; skipped with -short")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("scripts/package.sh needs bash")
	}
	dist := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "package.sh"), "enforcer")
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
		t.Fatalf("scripts/package.sh enforcer: %v\n%s", err, out)
	}
	zr, err := zip.OpenReader(filepath.Join(dist, "enforcer.zip"))
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
	bin := filepath.Join(t.TempDir(), "bootstrap")
	f, err := os.Create(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
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
