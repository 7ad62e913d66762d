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
