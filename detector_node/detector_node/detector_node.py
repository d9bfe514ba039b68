"""`detector`: runs the Learning-Loop-compatible detector on camera images.

Subscribes `camera/image_raw` (sensor_msgs/Image; with `compressed:=true`,
`camera/image_raw/compressed` as sensor_msgs/CompressedImage), publishes
`detections` (ab_interfaces/Detections) and `detections/image` (annotated bgr8
sensor_msgs/Image for rviz). Serves the detector's REST + Socket.IO API on
`http_host:http_port` from the same process (`serve_http`), uploads to a Learning Loop
through the outbox, and offers `detector/set_outbox_mode` and
`detector/set_model_version_mode`.

`ros2 run detector_node detector --ros-args -p camera_id:=front -p autoupload:=all`
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from ab_interfaces.msg import (
    BoxDetection,
    ClassificationDetection,
    Detections,
    Point2D,
    PointDetection,
    SegmentationDetection,
)
from ab_interfaces.srv import SetModelVersionMode, SetOutboxMode
from detector_node.host import ServiceThread
from detector_node.images import ImageError, bgr_bytes, decode_image, rgb_from_ros
from detector_node.logic import BUILTIN_FORMATS, LOGIC_FACTORIES, annotate
from detector_node.metadata import ImageMetadata, shape_points
from detector_node.service import AUTOUPLOAD_MODES, ServiceConfig
from node_kit import Params, run_node
from node_kit.diagnostics import ERROR, OK, WARN, Diagnostics, Status


def detections_msg(meta: ImageMetadata, header: Header, width: int, height: int,
                   camera_id: str, model_version: str, min_confidence: float) -> Detections:
    """The Detections message for one image's metadata (detections below min_confidence left out)."""
    msg = Detections(header=header, image_width=width, image_height=height,
                     camera_id=camera_id, model_version=model_version, tags=list(meta.tags))
    for d in meta.box_detections:
        if d.confidence >= min_confidence:
            msg.boxes.append(BoxDetection(
                category_name=d.category_name, category_id=d.category_id or "", x=int(d.x), y=int(d.y),
                width=int(d.width), height=int(d.height), model_name=d.model_name,
                confidence=float(d.confidence)))
    for d in meta.point_detections:
        if d.confidence >= min_confidence:
            msg.points.append(PointDetection(
                category_name=d.category_name, category_id=d.category_id or "", x=float(d.x),
                y=float(d.y), model_name=d.model_name, confidence=float(d.confidence)))
    for d in meta.segmentation_detections:
        if d.confidence >= min_confidence:
            points = [Point2D(x=x, y=y) for x, y in shape_points(d.shape)]
            msg.segmentations.append(SegmentationDetection(
                category_name=d.category_name, category_id=d.category_id or "", points=points,
                model_name=d.model_name, confidence=float(d.confidence)))
    for d in meta.classification_detections:
        if d.confidence >= min_confidence:
            msg.classifications.append(ClassificationDetection(
                category_name=d.category_name, category_id=d.category_id or "",
                model_name=d.model_name, confidence=float(d.confidence)))
    return msg


class RosLogHandler(logging.Handler):
    """The service's Python log records (Loop link, outbox, models) into the node's ROS
    logger, so they reach the console and /rosout like the node's own lines."""

    def __init__(self, ros_logger) -> None:
        super().__init__(logging.INFO)
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.ERROR:
                self.ros_logger.error(message)
            elif record.levelno >= logging.WARNING:
                self.ros_logger.warning(message)
            elif record.levelno >= logging.INFO:
                self.ros_logger.info(message)
            else:
                self.ros_logger.debug(message)
        except Exception:  # a context already shut down: nowhere to log to
            pass


def created_from_stamp(stamp) -> str:
    """The Loop's creation time ("YYYY-MM-DD_HH:MM:SS.mmm", local time) of a frame: its
    header stamp, or now when the camera left it zero."""
    seconds = stamp.sec + stamp.nanosec * 1e-9
    moment = datetime.fromtimestamp(seconds) if seconds > 0 else datetime.now()
    return moment.isoformat(sep="_", timespec="milliseconds")


class DetectorNode(Node):
    """Camera images in, detections and an annotated image out; the detector API alongside."""

    def __init__(self, **kwargs) -> None:
        super().__init__("detector", **kwargs)
        self._log_handler = RosLogHandler(self.get_logger())
        service_log = logging.getLogger("detector_node")
        service_log.addHandler(self._log_handler)
        if service_log.level == logging.NOTSET:
            service_log.setLevel(logging.INFO)
        try:
            self._start()
        except BaseException:
            host = getattr(self, "host", None)
            if host is not None:
                host.stop()  # a service already started must not outlive the failed node
            service_log.removeHandler(self._log_handler)
            raise

    def _start(self) -> None:

        # Live parameters take effect when set (`on_set`); the others are read-only
        # (node_kit.Params): `ros2 param set` is never "successful" and ignored.
        params = Params(self)

        def service_ready() -> bool:
            return getattr(self, "service", None) is not None

        def set_attr(name: str):
            return lambda value: setattr(self, name, value)

        def not_empty(value: str) -> None:
            if not value:
                raise ValueError("must not be empty")

        def band_check(low_side: bool):
            def check(value: float) -> None:
                if not service_ready():
                    return  # at start both ends are checked together, below
                relevance = self.service.relevance
                lo, hi = (value, relevance.max_uncertain) if low_side else (relevance.min_uncertain, value)
                if lo > hi:
                    raise ValueError(f"min_uncertain_threshold ({lo}) must not exceed "
                                     f"max_uncertain_threshold ({hi})")
            return check

        def set_band(low_side: bool):
            def apply(value: float) -> None:
                relevance = self.service.relevance
                lo, hi = (value, relevance.max_uncertain) if low_side else (relevance.min_uncertain, value)
                with self.service._relevance_lock:
                    relevance.set_thresholds(lo, hi)
            return apply

        def set_outbox(attr: str, trim: bool = False):
            def apply(value) -> None:
                setattr(self.service.outbox, attr, value)
                if trim:
                    self.service.outbox.trim()
            return apply

        self.camera_id: str = params.declare(
            "camera_id", "camera", "Camera id for the relevance filter and uploads.",
            check=not_empty, on_set=set_attr("camera_id"))
        self.autoupload: str = params.declare(
            "autoupload", "filtered", "Upload camera images to the Loop: filtered, all or disabled.",
            choices=AUTOUPLOAD_MODES, on_set=set_attr("autoupload"))
        self.min_confidence: float = params.declare(
            "min_confidence", 0.0, "Detections below this confidence are not published.",
            low=0.0, high=1.0, on_set=set_attr("min_confidence"))
        min_uncertain: float = params.declare(
            "min_uncertain_threshold", 0.3, "Lower bound of the 'uncertain' confidence band.",
            low=0.0, high=1.0, check=band_check(True), on_set=set_band(True))
        max_uncertain: float = params.declare(
            "max_uncertain_threshold", 0.6, "Upper bound of the 'uncertain' confidence band.",
            low=0.0, high=1.0, check=band_check(False), on_set=set_band(False))
        self.compressed: bool = params.declare(
            "compressed", False, "Subscribe camera/image_raw/compressed (CompressedImage) instead.")
        self.publish_annotated: bool = params.declare(
            "publish_annotated", True, "Publish detections/image (annotated copy).",
            on_set=set_attr("publish_annotated"))
        model_folder: str = params.declare(
            "model_folder", "", "Folder with model.json ('' = built-in red blobs).")
        logic: str = params.declare(
            "logic", "colour_blobs", "Logic for models whose model.json names no format, and of "
            "the built-in model: colour_blobs or aruco.", choices=sorted(LOGIC_FACTORIES))
        data_folder: str = params.declare(
            "data_folder", "~/.ros/detector_node", "Where the outbox and downloaded models live.")
        loop_url: str = params.declare("loop_url", "", "Learning Loop API base URL ('' = no uploads).")
        organization: str = params.declare("organization", "", "Learning Loop organization.")
        project: str = params.declare("project", "", "Learning Loop project.")
        version_control: str = params.declare(
            "version_control", "follow_loop", "Model version control at start: follow_loop or pause "
            "(at run time: the detector/set_model_version_mode service).",
            choices=("follow_loop", "pause"))
        max_outbox: int = params.declare(
            "max_outbox_items", 1000, "Normal outbox items kept (oldest dropped).",
            low=1, high=1_000_000, on_set=set_outbox("max_items", trim=True))
        upload_interval_s: float = params.declare(
            "upload_interval_s", 5.0, "Seconds between outbox uploads.", low=0.01, high=3600.0,
            on_set=set_outbox("interval_s"))
        outbox_fsync: bool = params.declare(
            "outbox_fsync", False, "fsync outbox files (power-loss safety; kill -9 safe without).",
            on_set=set_outbox("fsync"))
        self.serve_http: bool = params.declare("serve_http", True, "Serve the REST + Socket.IO API.")
        http_host: str = params.declare("http_host", "127.0.0.1", "Address the API binds to.")
        http_port: int = params.declare("http_port", 8004, "API port (0 = any free port).",
                                        low=0, high=65535)
        api_key: str = params.declare(
            "api_key", "", "API key clients of the REST/Socket.IO API must send (x-api-key, "
            "Authorization: Bearer, or Socket.IO auth {token}); empty: $DETECTOR_API_KEY, or "
            "none (open). Prefer the environment.")
        params.refuse_unknown()

        if not model_folder and not loop_url and logic not in BUILTIN_FORMATS:
            raise ValueError(f"parameter 'logic' {logic!r} needs parameter 'model_folder' (or a "
                             f"'loop_url' to download one); built-in models: {', '.join(BUILTIN_FORMATS)}")
        if not self.camera_id:
            raise ValueError("parameter 'camera_id' must not be empty")
        if min_uncertain > max_uncertain:
            raise ValueError(f"parameter 'min_uncertain_threshold' ({min_uncertain}) must not exceed "
                             f"'max_uncertain_threshold' ({max_uncertain})")
        if model_folder and not os.path.isfile(os.path.join(model_folder, "model.json")):
            raise ValueError(f"parameter 'model_folder': no model.json in {model_folder!r}")
        if loop_url and not (organization and project):
            raise ValueError("parameter 'loop_url' needs parameters 'organization' and 'project'")
        config = ServiceConfig(
            data_folder=os.path.expanduser(data_folder), model_folder=model_folder or None,
            logic=logic, loop_url=loop_url or None, organization=organization, project=project,
            min_uncertain=min_uncertain, max_uncertain=max_uncertain, max_outbox_items=max_outbox,
            upload_interval_s=upload_interval_s, version_control=version_control,
            outbox_fsync=outbox_fsync, api_key=api_key or os.environ.get("DETECTOR_API_KEY") or None)
        try:
            config.validate()
        except ValueError as exc:
            raise ValueError(f"bad detector parameters: {exc}") from exc

        self.service = None
        self.host = ServiceThread(config, http_host, http_port, serve_http=self.serve_http)
        try:
            self.host.start()
        except OSError as exc:
            self.host.stop()
            raise RuntimeError(f"parameters 'http_host'/'http_port' {http_host}:{http_port}: {exc}") from exc
        self.service = self.host.service
        if self.serve_http:
            self.get_logger().info(f"detector API on http://{http_host}:{self.host.port}")

        self.detections_pub = self.create_publisher(Detections, "detections", 10)
        self.annotated_pub = self.create_publisher(Image, "detections/image", qos_profile_sensor_data)
        if self.compressed:
            self.create_subscription(CompressedImage, "camera/image_raw/compressed", self.on_image,
                                     qos_profile_sensor_data)
        else:
            self.create_subscription(Image, "camera/image_raw", self.on_image, qos_profile_sensor_data)
        self.diagnostics = Diagnostics(self, self.health, period_s=1.0)
        self.create_service(SetOutboxMode, "detector/set_outbox_mode", self.on_set_outbox_mode)
        self.create_service(SetModelVersionMode, "detector/set_model_version_mode",
                            self.on_set_model_version_mode)

        # The newest frame waits here for the worker; a frame still waiting when the next
        # arrives is dropped (sensor semantics: late detections are worth less than fresh ones).
        self.frames_received = 0
        self.frames_dropped = 0
        self.frames_processed = 0
        self._pending: Image | CompressedImage | None = None
        self._cond = threading.Condition()
        self._running = True
        self._worker = threading.Thread(target=self._work, name="detector-worker", daemon=True)
        self._worker.start()

    def on_image(self, msg: Image | CompressedImage) -> None:
        with self._cond:
            self.frames_received += 1
            if self._pending is not None:
                self.frames_dropped += 1
            self._pending = msg
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and self._running:
                    self._cond.wait()
                if not self._running:
                    return
                msg, self._pending = self._pending, None
            try:
                self._process(msg)
            except (ImageError, ValueError) as exc:
                self.get_logger().warning(f"dropped a camera image: {exc}", throttle_duration_sec=5.0)
            except Exception as exc:  # the node must survive any one bad frame
                self.get_logger().error(f"detection failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=5.0)

    def _process(self, msg: Image | CompressedImage) -> None:
        if isinstance(msg, CompressedImage):
            jpeg = bytes(msg.data)
            rgb = decode_image(jpeg)
        else:
            jpeg = None
            rgb = rgb_from_ros(msg.width, msg.height, msg.encoding, msg.step, msg.data)
        active = self.service.require_model()
        meta = self.service.detect_blocking(rgb, jpeg=jpeg, camera_id=self.camera_id,
                                            source="ros", autoupload=self.autoupload,
                                            creation_date=created_from_stamp(msg.header.stamp))
        self.frames_processed += 1
        height, width = rgb.shape[:2]
        self.detections_pub.publish(detections_msg(meta, msg.header, width, height, self.camera_id,
                                                   active.info.version, self.min_confidence))
        if self.publish_annotated and self.annotated_pub.get_subscription_count() > 0:
            out = Image(header=msg.header, height=height, width=width, encoding="bgr8",
                        is_bigendian=0, step=width * 3)
            out.data = bgr_bytes(annotate(rgb, meta))
            self.annotated_pub.publish(out)

    def health(self) -> Status:
        """Model, Loop link, outbox and frame counters (published once a second)."""
        service = self.service
        active = service.active
        stats = service.outbox.stats()
        if active is None:
            level, message = ERROR, "no model loaded"
        elif service.config.loop_url and service.loop_reachable is False:
            level, message = WARN, "Learning Loop unreachable"
        elif stats.dropped_count:
            level, message = WARN, "outbox full: images dropped"
        else:
            level, message = OK, "detecting"
        values = {
            "model_version": active.info.version if active else "",
            "version_control": service.version_control,
            "last_model_error": service.last_model_error or "",
            "loop_url": service.config.loop_url or "",
            "frames_received": self.frames_received, "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped, **stats.to_dict()}
        return Status("detector", level, message, hardware_id=self.camera_id, values=values)

    def on_set_outbox_mode(self, request: SetOutboxMode.Request,
                           response: SetOutboxMode.Response) -> SetOutboxMode.Response:
        try:
            self.host.call(self.service.outbox.set_mode(request.mode))
            response.success, response.message = True, ""
        except (ValueError, TimeoutError) as exc:
            response.success, response.message = False, str(exc)
        response.mode = self.service.outbox.get_mode().value
        return response

    def on_set_model_version_mode(self, request: SetModelVersionMode.Request,
                                  response: SetModelVersionMode.Response) -> SetModelVersionMode.Response:
        try:
            self.host.call(self.service.set_model_version_mode(request.mode))
            response.success, response.message = True, ""
        except (ValueError, TimeoutError) as exc:
            response.success, response.message = False, str(exc)
        versions = self.service.model_version_response()
        response.current_version = versions["current_version"]
        response.target_version = versions["target_version"]
        response.version_control = versions["version_control"]
        return response

    def destroy_node(self) -> None:
        # Also called on a node whose __init__ failed half-way (the context destroys it).
        cond = getattr(self, "_cond", None)
        if cond is not None:
            with cond:
                self._running = False
                cond.notify()
            self._worker.join(timeout=5.0)
        host = getattr(self, "host", None)
        if host is not None:
            host.stop()  # the outbox keeps unsent items on disk for the next start
        handler = getattr(self, "_log_handler", None)
        if handler is not None:
            logging.getLogger("detector_node").removeHandler(handler)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run the node (node_kit.run_node): SIGINT and SIGTERM end it cleanly (exit 0, also
    while it starts); a bad parameter or an unusable data folder ends it with one line
    naming it (exit 1)."""
    return run_node(DetectorNode, args, program="detector")


if __name__ == "__main__":
    raise SystemExit(main())
