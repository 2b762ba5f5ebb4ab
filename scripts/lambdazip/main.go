// Command lambdazip writes a Lambda deployment zip holding one executable named bootstrap,
// reproducibly: a fixed timestamp and a fixed mode, so the same binary always gives the same zip
// bytes. The only extra field is the 9-byte extended timestamp archive/zip adds for Modified,
// which holds that same fixed time.
//
// usage: go run ./scripts/lambdazip OUT.zip BOOTSTRAP
package main

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: lambdazip OUT.zip BOOTSTRAP")
		os.Exit(2)
	}
	if err := write(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

func write(out, bootstrap string) error {
	in, err := os.Open(bootstrap)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{
		Name:     "bootstrap",
		Method:   zip.Deflate,
		Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
