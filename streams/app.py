"""The Faust app of the worker: settings, topics, tables, agents and the sweep timer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import faust

from streams.agents.batching import consume_batches
from streams.agents.enrich import ENRICH_STAGE, PushEnrichment
from streams.agents.failures import consume
from streams.agents.flow_control import WorkerFaustApp
from streams.agents.ingest import PUSH_STAGE, JobIngest, PushIngest
from streams.agents.ingest_batch import IngestBatchHandler
from streams.agents.job_routing import RawJobRouter
from streams.agents.join import STAGE as JOIN_STAGE
from streams.agents.join import JoinDatabase, JoinProcessor
from streams.agents.lookup_service import LookupService
from streams.agents.publish import TopicPublisher
from streams.agents.record_batches import running_kafka_producer
from streams.agents.retry import Backoff
from streams.agents.tasks import TASK_STAGE, TaskIngest
from streams.config import WorkerSettings
from streams.lookups.client import LookupClient
from streams.lookups.settings import LookupSettings
from streams.pushlog.poller import PushlogPoller
from streams.pushlog.settings import PollerSettings
from streams.pushlog.worker import RawPushEmitter, install_pushlog_timer
from streams.registry.repositories import RepositoryRegistry
from streams.sinks.deadletter import DeadLetterSink
from streams.tables.counts import record_table_sizes
from streams.tables.definitions import JoinTables, create_tables
from streams.tables.manager import PromptTableManager
from streams.topics import WorkerTopics, declare_topics

logger = logging.getLogger(__name__)

WEB_BIND = "127.0.0.1"

# Key of the sweep tick records; the partition is chosen explicitly for each of them.
SWEEP_KEY = b"sweep"

# Faust consumer and producer settings that differ from Faust's defaults, with the reason.
_FAUST_TUNING: dict[str, Any] = {
    # The ingest agents and the join send a whole batch before they await the delivery
    # reports, so the records of a batch are already queued together when the producer's
    # sender runs, and lingering would only add latency.
    "producer_linger": 0.0,
    # aiokafka sends one produce request per broker at a time, carrying at most one batch
    # per partition, so with Faust's 16 KiB default a 500-record batch of 1.5 KB job records
    # needs several round trips per partition. 256 KiB stays well below the broker's default
    # limit of about 1 MiB per record batch (`message.max.bytes`).
    "producer_max_batch_size": 256 * 1024,
    # Faust's default is 20 minutes; a send that cannot be delivered fails after this many
    # seconds and is retried by the agent instead.
    "producer_request_timeout": 30.0,
    # Heartbeats every second and a 10 s session let a restarted worker's old membership
    # expire quickly, which shortens the rebalance after a crash.
    "broker_heartbeat_interval": 1.0,
    "broker_session_timeout": 10.0,
    "broker_rebalance_timeout": 30.0,
    "stream_recovery_delay": 0.0,
    # A new consumer group starts from the oldest record: nothing published before the
    # worker first started is skipped.
    "consumer_auto_offset_reset": "earliest",
}


@dataclass(frozen=True)
class WorkerApp:
    """A configured Faust app with the parts tests and the command line need."""

    app: faust.App
    settings: WorkerSettings
    topics: WorkerTopics
    tables: JoinTables
    dead_letters: DeadLetterSink
    push_ingest: PushIngest
    job_ingest: JobIngest
    join: JoinProcessor
    task_ingest: TaskIngest
    push_enrichment: PushEnrichment
    lookup: LookupClient
    pushlog_poller: PushlogPoller | None


def create_faust_app(settings: WorkerSettings) -> faust.App:
    """Create the bare Faust app; environment variables are read only by WorkerSettings.

    Faust would otherwise let variables such as WEB_BIND or TOPIC_PARTITIONS override the
    values passed here, so the web server could end up on all interfaces. The app keeps
    events buffered after a rebalance; see ``streams.agents.flow_control``.
    """
    return WorkerFaustApp(
        settings.app_id,
        env={},
        broker=settings.broker_urls,
        store=settings.store,
        datadir=str(settings.data_dir),
        processing_guarantee="at_least_once",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.table_standby_replicas,
        stream_publish_on_commit=False,
        web_enabled=settings.web_enabled,
        web_bind=WEB_BIND,
        web_host=WEB_BIND,
        web_port=settings.web_port,
        autodiscover=False,
        TableManager=PromptTableManager,
        **_FAUST_TUNING,
    )


async def topic_partition_count(app: faust.App, topic: str) -> int | None:
    """Return the partition count of ``topic`` from the producer's cluster metadata.

    The consumer's own metadata snapshot lists topics only on the group leader
    (aiokafka 0.14), so every worker reads the count through the producer, which fetches the
    topic's metadata when it lacks it. Returns None while the producer or the broker is not ready, and the
    caller asks again with its next batch.
    """
    try:
        producer = await running_kafka_producer(app)
        return len(await producer.partitions_for(topic))
    except Exception as error:  # noqa: BLE001 - aiokafka and Faust raise several types here
        logger.warning("Reading the partition count of %s failed: %r", topic, error)
        return None


def create_app(
    settings: WorkerSettings,
    *,
    database: JoinDatabase,
    registry: RepositoryRegistry,
    lookup_settings: LookupSettings | None = None,
    poller_settings: PollerSettings | None = None,
) -> WorkerApp:
    """Build the app: four agents, the sweep and pushlog timers, and the publishers they share.

    The lookup client starts and stops with the app; without ``lookup_settings`` it uses
    the defaults, which point at the public services. Without ``poller_settings``, or with
    an interval of 0, no pushlog poller runs.
    """
    app = create_faust_app(settings)
    topics = declare_topics(app, settings)
    tables = create_tables(app, settings)
    backoff = Backoff(settings.retry_initial, settings.retry_max)

    dead_letters = DeadLetterSink(TopicPublisher(topics.dead_letter, backoff))
    lookup = LookupClient(lookup_settings or LookupSettings())
    app.add_dependency(LookupService(lookup))

    enrichment = TopicPublisher(topics.push_enrichment, backoff) if settings.push_enrichment else None
    push_ingest = PushIngest(
        registry, TopicPublisher(topics.pushes, backoff), settings.max_message_bytes, enrichment
    )
    job_ingest = JobIngest(registry, TopicPublisher(topics.jobs, backoff), settings.max_message_bytes)
    task_ingest = TaskIngest(
        lookup, job_ingest, settings.projects_to_ingest, settings.max_message_bytes
    )
    push_enrichment = PushEnrichment(
        lookup, registry, TopicPublisher(topics.pushes, backoff), settings.max_message_bytes
    )
    router = RawJobRouter(
        raw_topic=settings.topics.raw_jobs,
        table_partitions=settings.topic_partitions,
        topic_partitions=lambda topic: topic_partition_count(app, topic),
        ingest=job_ingest,
        forward=TopicPublisher(topics.jobs, backoff),
        dead_letters=dead_letters,
        backoff=backoff,
    )
    join = JoinProcessor(
        topics=settings.topics,
        tables=tables,
        database=database,
        accepted_pushes=TopicPublisher(topics.accepted_pushes, backoff),
        accepted_jobs=TopicPublisher(topics.accepted_jobs, backoff),
        dead_letters=dead_letters,
        parked_job_window=settings.parked_job_window,
        push_database_lookup=settings.push_database_lookup,
        router=router,
    )

    # One agent per stage, each with concurrency 1: order within a partition matters, and
    # with more than one actor Faust may commit an offset past an event still in progress.
    # The ingest agents send a batch's records together and acknowledge the batch after
    # every delivery report, so one produce request carries many records.
    push_batches = IngestBatchHandler(push_ingest, dead_letters, backoff)

    @app.agent(topics.raw_pushes, name="push-ingest", concurrency=1)
    async def push_ingest_agent(stream: Any) -> None:
        batches = consume_batches(
            stream,
            PUSH_STAGE,
            push_batches,
            dead_letters,
            backoff,
            size=settings.ingest_batch_size,
            wait=settings.ingest_batch_wait,
        )
        async for _ in batches:
            pass

    @app.agent(topics.raw_tasks, name="task-ingest", concurrency=1)
    async def task_ingest_agent(stream: Any) -> None:
        async for _ in consume(stream, TASK_STAGE, task_ingest, dead_letters, backoff):
            pass

    # Lookups happen here, apart from push ingest, so accepting a push never waits for them.
    @app.agent(topics.push_enrichment, name="push-enrich", concurrency=1)
    async def push_enrichment_agent(stream: Any) -> None:
        async for _ in consume(stream, ENRICH_STAGE, push_enrichment, dead_letters, backoff):
            pass

    # The push, job and sweep topics are co-partitioned: partition N of each is assigned
    # to the same worker and handled by this one agent, in the table partition N. The raw
    # job topic is read here too, because the bridge keys a raw job by its push (see
    # RawJobRouter). Faust assigns it with the others when its partition count is the same.
    join_channel = app.topic(
        settings.topics.pushes,
        settings.topics.jobs,
        settings.topics.raw_jobs,
        settings.topics.sweep,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(join_channel, name="join", concurrency=1)
    async def join_agent(stream: Any) -> None:
        batches = consume_batches(
            stream,
            JOIN_STAGE,
            join.process_batch,
            dead_letters,
            backoff,
            size=settings.join_batch_size,
            wait=settings.join_batch_wait,
        )
        async for _ in batches:
            pass

    sweep_publisher = TopicPublisher(topics.sweep, backoff)

    # Tables can only be changed while handling an event of the table's partition, so the
    # timer does not sweep by itself. It sends one tick to every partition of the sweep
    # topic, and the join agent sweeps that partition's parked jobs when the tick arrives.
    @app.timer(settings.parked_sweep_interval, on_leader=True, name="parked-job-sweep")
    async def send_sweep_ticks() -> None:
        sent_at = time.time()
        for partition in range(settings.topic_partitions):
            await sweep_publisher.publish(
                SWEEP_KEY,
                {"sent_at": sent_at},
                partition=partition,
                context=f"sweep tick for partition {partition}",
            )
        logger.debug("Sent sweep ticks to %d partitions", settings.topic_partitions)

    @app.timer(settings.parked_sweep_interval, name="table-key-counts")
    async def report_table_sizes() -> None:
        record_table_sizes(tables)

    poller: PushlogPoller | None = None
    if poller_settings is not None and poller_settings.interval > 0:
        emitter = RawPushEmitter(TopicPublisher(topics.raw_pushes, backoff), poller_settings.root_url)
        poller = PushlogPoller(lookup, registry, emitter, poller_settings)
        install_pushlog_timer(app, poller)

    return WorkerApp(
        app=app,
        settings=settings,
        topics=topics,
        tables=tables,
        dead_letters=dead_letters,
        push_ingest=push_ingest,
        job_ingest=job_ingest,
        join=join,
        task_ingest=task_ingest,
        push_enrichment=push_enrichment,
        lookup=lookup,
        pushlog_poller=poller,
    )
