module github.com/faultline-dev/faultline

go 1.26.8

require (
	github.com/ohler55/ojg v1.28.5
	github.com/spf13/cobra v1.9.1
	golang.org/x/sys v0.30.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.6 // indirect
)
