module github.com/pulsestream/pulsestream/schemas

go 1.26
