"""Networks that map the joint state ``(x_t, y_t, t)`` to the velocities ``(v_x, v_y)``."""
