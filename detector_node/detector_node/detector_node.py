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
import sys
import threading
from datetime import datetime

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
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
from detector_node.images import ImageError, bgr_bytes, decode_image, rgb_from_ros
from detector_node.logic import BUILTIN_FORMATS, LOGIC_FACTORIES, annotate
from detector_node.metadata import ImageMetadata, shape_points
from detector_node.service import AUTOUPLOAD_MODES, ServiceConfig, ServiceThread


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
        service_log.setLevel(logging.INFO)
        service_log.propagate = False

        def param(name, default, description, **extra):
            """A parameter that takes effect when set (see _on_set_parameters)."""
            return self.declare_parameter(
                name, default, ParameterDescriptor(description=description, **extra)).value

        def fixed(name, default, description, **extra):
            """A parameter read at start only: `ros2 param set` is refused, saying so."""
            return self.declare_parameter(name, default, ParameterDescriptor(
                description=description + " Read at start (restart the node to change it).",
                read_only=True, **extra)).value

        unit = [FloatingPointRange(from_value=0.0, to_value=1.0)]
        self.camera_id: str = param("camera_id", "camera", "Camera id for the relevance filter and uploads.")
        self.autoupload: str = param("autoupload", "filtered",
                                     "Upload camera images to the Loop: filtered, all or disabled.")
        self.min_confidence: float = param("min_confidence", 0.0,
                                           "Detections below this confidence are not published.",
                                           floating_point_range=unit)
        min_uncertain: float = param("min_uncertain_threshold", 0.3,
                                     "Lower bound of the 'uncertain' confidence band.",
                                     floating_point_range=unit)
        max_uncertain: float = param("max_uncertain_threshold", 0.6,
                                     "Upper bound of the 'uncertain' confidence band.",
                                     floating_point_range=unit)
        self.compressed: bool = fixed("compressed", False,
                                      "Subscribe camera/image_raw/compressed (CompressedImage) instead.")
        self.publish_annotated: bool = param("publish_annotated", True,
                                             "Publish detections/image (annotated copy).")
        model_folder: str = fixed("model_folder", "", "Folder with model.json ('' = built-in red blobs).")
        logic: str = fixed("logic", "colour_blobs",
                           "Logic for models whose model.json names no format, and of the built-in "
                           "model: colour_blobs or aruco.")
        data_folder: str = fixed("data_folder", "~/.ros/detector_node",
                                 "Where the outbox and downloaded models live.")
        loop_url: str = fixed("loop_url", "", "Learning Loop API base URL ('' = no uploads).")
        organization: str = fixed("organization", "", "Learning Loop organization.")
        project: str = fixed("project", "", "Learning Loop project.")
        version_control: str = fixed("version_control", "follow_loop",
                                     "Model version control at start: follow_loop or pause.")
        max_outbox: int = param("max_outbox_items", 1000, "Normal outbox items kept (oldest dropped).",
                                integer_range=[IntegerRange(from_value=1, to_value=1_000_000, step=1)])
        upload_interval_s: float = param("upload_interval_s", 5.0, "Seconds between outbox uploads.",
                                         floating_point_range=[FloatingPointRange(from_value=0.01, to_value=3600.0)])
        outbox_fsync: bool = param("outbox_fsync", False,
                                   "fsync outbox files (power-loss safety; kill -9 safe without).")
        self.serve_http: bool = fixed("serve_http", True, "Serve the REST + Socket.IO API.")
        http_host: str = fixed("http_host", "127.0.0.1", "Address the API binds to.")
        http_port: int = fixed("http_port", 8004, "API port (0 = any free port).",
                               integer_range=[IntegerRange(from_value=0, to_value=65535, step=1)])
        api_key: str = fixed("api_key", "", "API key clients of the REST/Socket.IO API must send "
                             "(x-api-key, Authorization: Bearer, or Socket.IO auth {token}); "
                             "empty: $DETECTOR_API_KEY, or none (open). Prefer the environment.")

        if self.autoupload not in AUTOUPLOAD_MODES:
            raise ValueError(f"parameter 'autoupload' must be one of {', '.join(AUTOUPLOAD_MODES)}, "
                             f"got {self.autoupload!r}")
        if logic not in LOGIC_FACTORIES:
            raise ValueError(f"parameter 'logic' must be one of {', '.join(sorted(LOGIC_FACTORIES))}, "
                             f"got {logic!r}")
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

        self.host = ServiceThread(config, http_host, http_port, serve_http=self.serve_http)
        self.add_on_set_parameters_callback(self._on_set_parameters)
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
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.create_timer(1.0, self.publish_diagnostics)
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

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Parameters that can change at run time take effect here; a bad value is refused
        with the reason (read-only ones are refused by rclpy, naming them)."""
        service = self.service
        values = {p.name: p.value for p in params}
        lo = values.get("min_uncertain_threshold", service.relevance.min_uncertain)
        hi = values.get("max_uncertain_threshold", service.relevance.max_uncertain)
        if "autoupload" in values and values["autoupload"] not in AUTOUPLOAD_MODES:
            return SetParametersResult(successful=False, reason=(
                f"autoupload must be one of {', '.join(AUTOUPLOAD_MODES)}, got {values['autoupload']!r}"))
        if "camera_id" in values and not values["camera_id"]:
            return SetParametersResult(successful=False, reason="camera_id must not be empty")
        if lo > hi:
            return SetParametersResult(successful=False, reason=(
                f"min_uncertain_threshold ({lo}) must not exceed max_uncertain_threshold ({hi})"))
        if "camera_id" in values:
            self.camera_id = values["camera_id"]
        if "autoupload" in values:
            self.autoupload = values["autoupload"]
        if "min_confidence" in values:
            self.min_confidence = values["min_confidence"]
        if "publish_annotated" in values:
            self.publish_annotated = values["publish_annotated"]
        if "min_uncertain_threshold" in values or "max_uncertain_threshold" in values:
            with service._relevance_lock:
                service.relevance.set_thresholds(lo, hi)
        outbox = service.outbox
        if "upload_interval_s" in values:
            outbox.interval_s = values["upload_interval_s"]
        if "max_outbox_items" in values:
            outbox.max_items = values["max_outbox_items"]
            outbox.trim()
        if "outbox_fsync" in values:
            outbox.fsync = values["outbox_fsync"]
        return SetParametersResult(successful=True)

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

    def publish_diagnostics(self) -> None:
        """Model, Loop link, outbox and frame counters, once a second."""
        service = self.service
        active = service.active
        stats = service.outbox.stats()
        if active is None:
            level, message = DiagnosticStatus.ERROR, "no model loaded"
        elif service.config.loop_url and service.loop_reachable is False:
            level, message = DiagnosticStatus.WARN, "Learning Loop unreachable"
        elif stats.dropped_count:
            level, message = DiagnosticStatus.WARN, "outbox full: images dropped"
        else:
            level, message = DiagnosticStatus.OK, "detecting"
        values = {
            "model_version": active.info.version if active else "",
            "version_control": service.version_control,
            "last_model_error": service.last_model_error or "",
            "loop_url": service.config.loop_url or "",
            "frames_received": self.frames_received, "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped, **stats.to_dict()}
        status = DiagnosticStatus(level=level, name="detector", message=message,
                                  hardware_id=self.camera_id,
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)

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
            service_log = logging.getLogger("detector_node")
            service_log.removeHandler(handler)
            if not service_log.handlers:
                service_log.propagate = True
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the node; SIGINT and SIGTERM end it cleanly (exit 0), a bad parameter or an
    unusable data folder ends it with one line saying what (exit 1)."""
    try:
        with rclpy.init(args=args):
            try:
                node = DetectorNode()
            except (ValueError, RuntimeError, OSError) as exc:
                if not rclpy.ok():
                    return  # SIGINT/SIGTERM while starting: a clean end, not a failure
                print(f"[detector] could not start: {exc}", file=sys.stderr, flush=True)
                raise SystemExit(1) from None
            try:
                rclpy.spin(node)
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
