package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestStateMetrics: the state collector exports the sites' report ages,
// the regions' decisions and their load from the log alone.
func TestStateMetrics(t *testing.T) {
	f := run(t, Rules{FreshFor: 10 * time.Second}, []step{
		obs(0, "s1", kA1, true, ""),
		obs(5, "s2", kA1, true, ""),
		obs(8, "s1", kB1, false, "connection refused"),
		loadStep(9, "p1", 95, 100),
	})
	want := `
# HELP aya_cluster_region_load_ratio A region's requests in flight over its capacity, from its proxies' fresh load reports (absent without any).
# TYPE aya_cluster_region_load_ratio gauge
aya_cluster_region_load_ratio{region="eu"} 0.95
# HELP aya_cluster_region_shed_ratio Share of a region's clients answered from the next-best region because its proxies report it loaded (0: not shedding).
# TYPE aya_cluster_region_shed_ratio gauge
aya_cluster_region_shed_ratio{region="eu"} 0.158
aya_cluster_region_shed_ratio{region="us"} 0
# HELP aya_cluster_region_up 1 when the cluster decides a pool's region up (enough endpoints up), 0 when down; regions drained by an operator are not down.
# TYPE aya_cluster_region_up gauge
aya_cluster_region_up{pool="web",region="eu"} 1
aya_cluster_region_up{pool="web",region="us"} 0
# HELP aya_cluster_site_report_age_seconds Log-time age of the newest probe report of each site: a site that stopped reporting grows old at every node alike.
# TYPE aya_cluster_site_report_age_seconds gauge
aya_cluster_site_report_age_seconds{site="s1"} 1
aya_cluster_site_report_age_seconds{site="s2"} 4
`
	if err := testutil.CollectAndCompare(stateCollector{f}, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
