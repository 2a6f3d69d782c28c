# Courier image (used by docker-compose.yml). Builds in release mode with the Swift toolchain image.
FROM swift:6.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev libhiredis-dev librdkafka-dev librabbitmq-dev libmosquitto-dev libnats-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product courier && cp "$(swift build -c release --show-bin-path)/courier" /usr/local/bin/courier

FROM swift:6.1-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-0 libhiredis0.14 librdkafka1 librabbitmq4 libmosquitto1 libnats3.4 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/courier /usr/local/bin/courier
ENTRYPOINT ["courier"]
