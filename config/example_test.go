package config_test

import (
	"fmt"

	"github.com/aya-gslb/aya/config"
)

// Parse reports every problem at once, each with its file, line and key.
func ExampleParse() {
	_, err := config.Parse("aya.yaml", []byte(`node:
  id: edge-1
dns:
  listen: [127.0.0.1:5300, 127.0.0.1:99999]
  zones_dir: zones
  max_udp_size: 100
log:
  levle: debug
`), nil)
	fmt.Println(err)
	// Output:
	// aya.yaml:4: dns.listen[1]: port must be a number 0-65535 (got "99999")
	// aya.yaml:6: dns.max_udp_size: must be between 512 and 65535 (got 100)
	// aya.yaml:8: log.levle: unknown key (did you mean "level"?)
}

// Errors inside regions and pools name the full path of the key.
func ExampleParse_pools() {
	_, err := config.Parse("aya.yaml", []byte(`node: {id: edge-1}
dns: {listen: [127.0.0.1:5300], zones_dir: zones}
regions:
  - {name: us-east, latitude: 39.04, longitude: -77.49, country: US, continent: NA}
  - {name: eu-west, latitude: 53.35, longitude: -6.26, country: ie, continent: eu}
pools:
  - name: web
    country_map: {GB: eu-west}
    members:
      - region: us-east
        endpoints:
          - {name: use1, addresses: [192.0.2.10, "2001:db8::zz"]}
      - region: eu-wset
        endpoints:
          - {name: euw1, addresses: [198.51.100.10]}
`), nil)
	fmt.Println(err)
	// Output:
	// aya.yaml:8: pools[0].country_map.GB: region "eu-west" is not a member of pool "web"
	// aya.yaml:12: pools[0].members[0].endpoints[0].addresses[1]: not an IP address "2001:db8::zz"
	// aya.yaml:13: pools[0].members[1].region: unknown region "eu-wset" (did you mean "eu-west"?)
}
