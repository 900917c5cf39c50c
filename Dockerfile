# syntax=docker/dockerfile:1
#
# Reins: one static binary (pure Go, SQLite through modernc) on a distroless base.
#
#   docker build -t reins .
#   docker run -p 8000:8000 -v reins-data:/data reins            # single node, embedded SQLite
#   docker run ... -e REINS_DATABASE_URL=postgres://... reins worker
#
# deploy/deploy_test.go checks this file against the binary (CGO off, non-root user,
# entrypoint, exposed port = REINS_ADDR's port).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Module downloads are a layer of their own, so a source change does not refetch them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/reins ./cmd/reins
# The data directory exists in the image, owned by the runtime user, so a fresh named volume
# mounted on it starts writable by that user (distroless has no shell to mkdir/chown later).
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reins /reins
COPY --from=build --chown=65532:65532 /out/data /data
ENV REINS_DATA_DIR=/data REINS_ADDR=0.0.0.0:8000
VOLUME /data
EXPOSE 8000
USER 65532:65532
ENTRYPOINT ["/reins"]
CMD ["serve"]
