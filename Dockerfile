# meshcert's image for those who build with Docker. `make image` builds the
# same image without a container engine (e2e/tools/image); TestImage keeps
# the two in step: a scratch base, the static binary at /meshcert, the
# non-root user 65532, ENTRYPOINT and CMD.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/meshcert/meshcert/cmd/meshcert/app.version=${VERSION}" \
      -o /rootfs/meshcert ./cmd/meshcert \
 && mkdir -p /rootfs/etc /rootfs/home/nonroot /rootfs/tmp \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group \
 && chmod 1777 /rootfs/tmp && chown 65532:65532 /rootfs/home/nonroot

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/meshcert"]
CMD ["serve"]
