# Build on Debian 12 with the same dependency script as CI. The runtime stage is `scratch` holding
# only the binary, exactly the shared libraries ldd lists for it (collected by
# scripts/collect-libs.sh, loader included), the example config and a passwd entry for the non-root
# user: no shell, no package manager. scripts/check-image-libs.sh (ctest: image_libs) checks that
# this stage provides every library the binary needs and nothing else.
FROM debian:12 AS build
COPY scripts/deps.sh /src/scripts/deps.sh
RUN bash /src/scripts/deps.sh
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DREVROUTER_TESTS=OFF -DREVROUTER_BENCH=OFF \
 && cmake --build /build --target revrouter \
 && strip /build/tools/revrouter
RUN bash /src/scripts/collect-libs.sh /build/tools/revrouter /rootfs

FROM scratch
COPY --from=build /rootfs/ /
COPY config/ /etc/revrouter/
USER 65532:65532
EXPOSE 15017
ENTRYPOINT ["/usr/local/bin/revrouter"]
# Serving needs a certificate: mount a kubernetes.io/tls Secret at /etc/revrouter/tls (as
# manifests/deployment.yaml does, with its own args), or run `revrouter serve --dev` elsewhere.
CMD ["serve", "--config", "/etc/revrouter/example.yaml", \
     "--tls-cert", "/etc/revrouter/tls/tls.crt", "--tls-key", "/etc/revrouter/tls/tls.key", \
     "--listen", "0.0.0.0:15017"]
