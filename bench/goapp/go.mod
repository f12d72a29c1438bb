module example.com/benchapp

go 1.19

require (
	github.com/google/uuid v1.3.0
	github.com/pkg/errors v0.9.1
	github.com/sirupsen/logrus v1.9.0
	github.com/spf13/pflag v1.0.6-0.20210604193023-d5e0c0615ace
	gopkg.in/yaml.v3 v3.0.1
)

require golang.org/x/sys v0.3.0 // indirect
