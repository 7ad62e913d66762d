// Command aya is AYA's single binary: the authoritative DNS server of the
// GSLB (serve), its offline checker (check), explain, the cluster controls
// (status, drain, undrain, cluster join/remove/secret), a readiness check
// (health) and its version.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		if ee, ok := errors.AsType[exitError](err); ok {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "aya:", err)
		os.Exit(1)
	}
}

// exitError carries an exit code for a failure already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "aya",
		Short:         "AYA: a DNS-based global server load balancer",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newCheckCmd(), newExplainCmd(), newGeoCmd(), newVersionCmd(),
		newStatusCmd(), newApplyCmd(), newDiffCmd(), newDrainCmd(true), newDrainCmd(false), newClusterCmd(), newProxyCmd(), newDemoCmd(), newHealthCmd(), newDNSSECCmd())
	return root
}
