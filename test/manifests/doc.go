// Package manifests tests the deployment files against each other and against the image: every
// Kubernetes document decodes strictly into its k8s.io/api type, the pod specs meet the Pod
// Security level they claim (or fail exactly the checks their needs explain), and probe
// commands, ports, environment variable names and image names agree with the Dockerfile, the
// Compose file, the release workflow and the entrypoint binary.
package manifests
