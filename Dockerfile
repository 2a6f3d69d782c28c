# Courier image (used by docker-compose.yml). Builds in release mode with the Swift toolchain image.
FROM swift:6.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev libhiredis-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product courier && cp "$(swift build -c release --show-bin-path)/courier" /usr/local/bin/courier

FROM swift:6.1-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-0 libhiredis0.14 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/courier /usr/local/bin/courier
ENTRYPOINT ["courier"]
