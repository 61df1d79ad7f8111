// Package switching runs the entrypoint as a black box with the environments of the images
// people switch from (cturra/docker-ntp, dockur/chrony, simonrupf/docker-chronyd and the
// previous ghcr.io/chris-short/chrony): what each of their variables now does, how fast a bare
// host list syncs, and the forms compose produces (quotes, empty values, repeated names).
package switching
