package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya/geo"
)

func newGeoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "geo",
		Short: "Work with geo databases",
	}
	var out string
	build := &cobra.Command{
		Use:   "build SOURCE -o OUT.mmdb",
		Short: "Build a MaxMind DB (GeoIP2 City layout) from a small YAML or CSV file of networks",
		Long: `Build compiles a list of networks and their locations (YAML or CSV, see
docs/configuration.md) into an .mmdb file in the GeoIP2 City layout, which
geo.database can name, as can any MaxMind reader. aya serve also accepts the
source file itself and compiles it in memory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-o OUT.mmdb is required")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer func() { _ = f.Close() }()
			nets, err := geo.ParseSource(f, args[0])
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			if err := writeAtomic(out, func(w io.Writer) error { return geo.Build(w, nets) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d networks\n", out, len(nets))
			return nil
		},
	}
	build.Flags().StringVarP(&out, "output", "o", "", "the .mmdb file to write")
	cmd.AddCommand(build)
	return cmd
}

// writeAtomic writes out with write: to a file beside it, renamed over it
// once complete, so a running server that watches out never reads half a
// file. Its errors name out, not the temporary file.
func writeAtomic(out string, write func(io.Writer) error) error {
	outErr := func(err error) error {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		} else if le, ok := errors.AsType[*os.LinkError](err); ok {
			err = le.Err
		}
		return fmt.Errorf("%s: %w", out, err)
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: is a directory; -o names the file to write", out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".aya-geo-*")
	if err != nil {
		return outErr(err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	w := bufio.NewWriter(tmp)
	if err := write(w); err != nil {
		_ = tmp.Close()
		return err
	}
	// A database is read by other users' tools too: 0644, not CreateTemp's 0600.
	if err := errors.Join(w.Flush(), tmp.Chmod(0o644), tmp.Close()); err != nil {
		return outErr(err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return outErr(err)
	}
	return nil
}
