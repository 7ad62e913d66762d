// Package proxy is AYA's in-region L7 reverse proxy: it balances the
// traffic that DNS sent to a region across the region's backends, and
// reports the region's load to the cluster.
package proxy
