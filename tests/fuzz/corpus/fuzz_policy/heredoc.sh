cat <<EOF
$(date)
EOF
bash <<- 'X'
	rm -rf ~
	X
ls # <<Y
