"""An edge object detector compatible with the Learning Loop detector API (REST + Socket.IO), with outbox uploads, model versions and ROS topics."""
