// Why this file exists: consul's own go.mod has `replace` directives (./api,
// ./sdk, ...), so `go install github.com/hashicorp/consul@v1.16.3` refuses to
// build it. This wrapper module requires it instead; go.mod/go.sum pin every
// dependency (published submodules api v1.25.1, sdk v0.14.1, ... all MPL-2.0),
// and ../prepare.sh builds `github.com/hashicorp/consul` from here.
//go:build tools

package tools

import _ "github.com/hashicorp/consul"
