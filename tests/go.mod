module github.com/pulsestream/pulsestream/tests

go 1.26.0

require github.com/pulsestream/pulsestream/platform v0.0.0

replace (
	github.com/pulsestream/pulsestream/migrations => ../migrations
	github.com/pulsestream/pulsestream/platform => ../platform
	github.com/pulsestream/pulsestream/schemas => ../schemas
)
